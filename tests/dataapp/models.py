"""A table named like the Data page's downloads, in an app labelled ``data``."""

from django.db import models

from espresso_static.models import Base


class Downloads(Base):
    """A table named like a folder of the Data page."""

    name = models.CharField(max_length=20, unique=True)
