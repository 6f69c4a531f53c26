"""The built-in features of ``build-site`` (see :mod:`espresso_static.website.feature`)."""

from espresso_static.website.features.changes import ChangesFeature
from espresso_static.website.features.datapage import OpenDataFeature
from espresso_static.website.features.docs import ModelDocs
from espresso_static.website.features.health import DataHealth
from espresso_static.website.features.news import NewsFeature
from espresso_static.website.features.status import StatusPages

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
