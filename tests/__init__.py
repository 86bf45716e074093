from . import test_intake_http
from . import test_concurrency
from . import test_processing
from . import test_security
from . import test_shopify
from . import test_woocommerce
from . import test_mozello
from . import test_paypal
