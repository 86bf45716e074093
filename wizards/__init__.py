from . import sale_channel_import
