from . import sale_channel_import
from . import sale_order_store_cancel
