from . import sale_channel
from . import sale_channel_partner
from . import sale_channel_payment_method
from . import sale_channel_stock
from . import sale_inbox_delivery
from . import sale_inbox_order
from . import sale_inbox_processor
from . import sale_order
