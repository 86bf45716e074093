from . import connect
