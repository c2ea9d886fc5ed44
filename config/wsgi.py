import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

application = get_wsgi_application()

# Everything loaded so far lives as long as the worker: keep it out of the garbage collector's full
# passes (see config/asgi.py).
gc.freeze()
