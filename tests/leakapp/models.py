"""A campaign with secrets. Every string starting with ``cnry`` is a canary: the
leak test (tests/test_leak.py) asserts none reaches the public build and every one
reaches the internal build. Canaries sit in a private model (its name, docstring,
help text and values), in a private column of a public model (its name, help text
and values), in hidden rows (values and a progress group), in notifications and in
a hand-written page."""

from django.db import models
from django.db.models import Q

from espresso_static.access import ALL, Access
from espresso_static.models import Base
from espresso_static.progress import Progress


class Cnrymodelalpha(Base):
    """cnrydocbeta: a table only the collaboration sees."""

    cnryfieldgamma = models.CharField(max_length=40, help_text="cnryhelpdelta")

    def check_consistency(self):
        """Values are never "bad"."""
        if self.cnryfieldgamma == "bad":
            raise ValueError("bad value")


class Sample(Base):
    # \r and U+2028 line breaks: a snippet include of an internal page, if any text
    # processing let it start a line.
    """A sample; the public sees released ones, without their private notes.\r--8<-- "internal-notes.md"\r\u2028--8<-- "internal-notes.md" """

    name = models.CharField(max_length=40, unique=True, help_text="Name of the sample.")
    batch = models.CharField(max_length=40, help_text="Production batch.")
    status = models.CharField(
        max_length=10, choices=[("todo", "to do"), ("done", "done")], default="todo"
    )
    released = models.BooleanField(default=False)
    cnryprivfield = models.CharField(max_length=40, blank=True, help_text="cnryprivhelp")
    origin = models.ForeignKey(
        Cnrymodelalpha, null=True, blank=True, on_delete=models.SET_NULL, help_text="Origin."
    )

    access = Access(
        audiences=["public"],
        fields={"public": ["id", "name", "batch", "status", "last_modified"]},
        rows={"public": Q(released=True)},
    )
    progress = Progress(status="status", done=["done"], missing=["todo"], group_by=["batch"])


class Node(Base):
    # No docstring on purpose: Django invents "Node(id, ..., cnryautodoccol)", which
    # names the private column.
    name = models.CharField(max_length=40)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE)
    released = models.BooleanField(default=False)
    cnryautodoccol = models.CharField(max_length=40, blank=True)

    access = Access(
        audiences=["public"],
        fields={"public": ["id", "name", "parent"]},
        rows={"public": Q(released=True)},
    )

    def __str__(self):
        return f"{self.name} ({self.cnryautodoccol})"

    def check_consistency(self):
        """Nodes marked "broken" fail."""
        if self.cnryautodoccol.startswith("broken"):
            raise ValueError(f"broken node {self.cnryautodoccol}")


class Lot(Base):
    """A lot the public sees once one of its memberships is released (a row filter
    reading another table, through a reverse relation)."""

    name = models.CharField(max_length=40)

    access = Access(
        audiences=["public"],
        fields={"public": ["id", "name"]},
        rows={"public": Q(mem__released=True)},
    )


class Membership(Base):
    """Private: decides which lots are public."""

    lot = models.ForeignKey(Lot, on_delete=models.CASCADE, related_name="mem")
    released = models.BooleanField(default=False)


class Job(Base):
    """A job on a sample. The public sees every column of it, but not what a relation
    path from them reaches: a private column of a public table, a private table."""

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE)
    origin = models.ForeignKey(Cnrymodelalpha, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=10, default="todo")

    access = Access(audiences=["public"], fields={"public": "__all__"})
    progress = Progress(
        status="status",
        done=["done"],
        missing=["todo"],
        group_by=["origin__cnryfieldgamma"],
        columns=["sample", "sample__cnryprivfield", "origin__cnryfieldgamma"],
    )


class Cnrysecretparent(Base):
    """A private table with a public specialization."""

    pfield = models.CharField(max_length=40, blank=True)

    def check_consistency(self):
        """cnryparentcheck: pfield is never "bad"."""
        if self.pfield == "bad":
            raise ValueError("bad pfield")


class Child(Cnrysecretparent):
    """A public specialization: its page must not name its private parent's checks."""

    cfield = models.CharField(max_length=40)

    access = Access(audiences=["public"], fields={"public": ["cfield"]})


class Use(Base):
    """A use of a row of the private parent: its check reads the row's specialization,
    a subclass's table (the data-health audit must re-check it when that changes)."""

    used = models.ForeignKey(Cnrysecretparent, on_delete=models.CASCADE)

    def check_consistency(self):
        """The used row is not a child marked "broken"."""
        if getattr(self.used.specialization, "cfield", "") == "broken":
            raise ValueError("uses a broken child")


class Cnryabstractbase(Base):
    """An abstract base whose only column the public does not see: a public page may
    not name it, nor list the check it defines."""

    cnryabstractcol = models.CharField(max_length=40, blank=True)

    class Meta:
        abstract = True

    def check_consistency(self):
        """cnryabstractcheck: the column is never "bad"."""
        if self.cnryabstractcol == "bad":
            raise ValueError("bad column")


class Kit(Cnryabstractbase):
    """A public table with a many-to-many column to a private table (hidden, though
    listed in its public fields) and a check of its links."""

    name = models.CharField(max_length=40)
    cnryhiddenm2m = models.ManyToManyField(Cnrymodelalpha, blank=True)

    access = Access(audiences=["public"], fields={"public": ["id", "name", "cnryhiddenm2m"]})

    def check_m2m_consistency(self, members, column=None):
        """Its links are never to a "bad" row."""
        if members.filter(cnryfieldgamma="bad").exists():
            raise ValueError("linked to a bad row")


class Specimen(Base):
    """A specimen the public sees once released."""

    label = models.CharField(max_length=40, unique=True)
    released = models.BooleanField(default=False)

    access = Access(
        audiences=["public"], fields={"public": ["id", "label"]}, rows={"public": Q(released=True)}
    )


class Slice(Specimen):
    """A specialization declaring its own access without its parent link: the rows of
    hidden specimens stay hidden all the same."""

    thickness = models.CharField(max_length=40)

    access = Access(audiences=["public"], fields={"public": ["label", "thickness"]})


class Stain(Base):
    """The public sees a stain's name, not its specimen (a key by its label): only the
    stains of released specimens all the same."""

    specimen = models.ForeignKey(Specimen, on_delete=models.CASCADE, to_field="label")
    name = models.CharField(max_length=40)

    access = Access(audiences=["public"], fields={"public": ["id", "name"]})


class Badge(Base):
    """A public table whose key column ``code`` is private."""

    title = models.CharField(max_length=40)
    code = models.CharField(max_length=40, unique=True)

    access = Access(audiences=["public"], fields={"public": ["id", "title"]})


class Award(Base):
    """A foreign key by that private column: its values are the codes (private)."""

    badge = models.ForeignKey(Badge, on_delete=models.CASCADE, to_field="code")
    note = models.CharField(max_length=40)

    access = Access(audiences=["public"], fields={"public": "__all__"})


class Topic(Base):
    """A public table linked to papers."""

    name = models.CharField(max_length=40)

    access = Access(audiences=["public"], fields={"public": ["id", "name"]})


class Paper(Base):
    """Many-to-many through models of their own: one the public sees the released
    rows of, one private."""

    title = models.CharField(max_length=40)
    topics = models.ManyToManyField(Topic, through="Mention", related_name="papers")
    drafts = models.ManyToManyField(Topic, through="Draft", related_name="draft_papers")

    access = Access(audiences=["public"], fields={"public": ["id", "title", "topics", "drafts"]})


class Mention(Base):
    """A topic of a paper, public once released."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE)
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE)
    released = models.BooleanField(default=False)

    access = Access(
        audiences=["public"],
        fields={"public": ["id", "paper", "topic"]},
        rows={"public": Q(released=True)},
    )


class Draft(Base):
    """Private links: the name of its column is a canary."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE)
    cnrydraftcol = models.ForeignKey(Topic, on_delete=models.CASCADE)


class Core(Base):
    """A public table with a private column."""

    name = models.CharField(max_length=40)
    secret = models.CharField(max_length=40, default="")

    access = Access(audiences=["public"], fields={"public": ["id", "name"]})


class Shard(Core):
    """A specialization showing the public all its columns: not its parent's private
    one, which its rows hold too."""

    grain = models.CharField(max_length=40, default="")

    access = Access(audiences=["public"], fields={"public": ALL})


class Creature(Base):
    """A public table of every column."""

    label = models.CharField(max_length=40)

    access = Access(audiences=["public"], fields={"public": ALL})


class Approvedcreature(Creature):
    """A specialization the public sees the approved rows of: the parent's part of the
    others is hidden in the parent's table too."""

    ok = models.BooleanField(default=False)

    access = Access(audiences=["public"], fields={"public": ALL}, rows={"public": Q(ok=True)})
