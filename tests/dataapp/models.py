"""Tables named like the Data page's downloads and like their app's page, in an app
labelled ``data``."""

from django.db import models

from espresso_static.models import Base


class Downloads(Base):
    """A table named like a folder of the Data page."""

    name = models.CharField(max_length=20, unique=True)


class Index(Base):
    """A table named like its app's page (``index.md``)."""

    name = models.CharField(max_length=20, unique=True)
