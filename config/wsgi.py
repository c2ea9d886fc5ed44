import gc
import os

from django.core.wsgi import get_wsgi_application

from chalkboard.common.bodies import BodyLimitWSGI

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# Bodies are counted as they arrive, chunked ones too, before Django sees the request (chalkboard.common.bodies).
application = BodyLimitWSGI(get_wsgi_application())

# Everything loaded so far lives as long as the worker: keep it out of the garbage collector's full
# passes (see config/asgi.py).
gc.freeze()
