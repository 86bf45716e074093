from . import connect
from . import webhook
