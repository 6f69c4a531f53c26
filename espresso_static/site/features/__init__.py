"""The built-in features of ``build-site`` (see :mod:`espresso_static.site.feature`)."""

from espresso_static.site.features.changes import ChangesFeature
from espresso_static.site.features.datapage import OpenDataFeature
from espresso_static.site.features.docs import ModelDocs
from espresso_static.site.features.health import DataHealth
from espresso_static.site.features.news import NewsFeature
from espresso_static.site.features.status import StatusPages

#: The features every build runs, in this order (the order of the navigation); a
#: project's own features (``features = [...]`` in its configuration) follow.
FEATURES = (
    ModelDocs(),
    StatusPages(),
    NewsFeature(),
    ChangesFeature(),
    OpenDataFeature(),
    DataHealth(),
)
