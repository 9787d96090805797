import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_calendar.settings")
application = get_wsgi_application()

# Everything loaded so far (Django, the apps, the URLconf) lives as long as the process: set it aside from the
# cyclic garbage collector, whose full collections otherwise scan it all while every thread of the worker waits
# (50-100 ms each on the 2-core benchmark machine, the bulk of the kiosk status p99; see benchmarks/README.md).
gc.freeze()
