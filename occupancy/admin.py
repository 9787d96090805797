# Admin autodiscovery imports "<app>.admin"; the kiosk registers its token admin in its own package.
from .kiosk import admin  # noqa: F401
