"""Tables of the sample-design app: everything needed to reproduce a drawn sample."""

from __future__ import annotations

from piccolo.columns import (
    BigInt,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from survey.db.tables import Unit, Wave


class Frame(Table, tablename="sampling_frame"):
    """An imported sampling frame (households or phone numbers with their unit)."""

    id = Serial(primary_key=True)
    wave = ForeignKey(Wave, null=False, on_delete=OnDelete.restrict)
    name = Varchar(length=200)
    kind = Varchar(length=20)  # household | phone | blocks (a 号段 list: one row per block)
    stratify_by = Varchar(length=20, default="")  # street | station | community | column
    fingerprint = Varchar(length=64)
    row_count = Integer()
    created_at = Timestamptz(default=TimestamptzNow())
    created_by = Varchar(length=60, default="")


class FrameRow(Table, tablename="sampling_frame_row"):
    id = Serial(primary_key=True)
    frame = ForeignKey(Frame, null=False, on_delete=OnDelete.cascade)
    row_number = Integer()
    unit = ForeignKey(Unit, null=True, on_delete=OnDelete.restrict)
    stratum = Varchar(length=60)
    phone = Varchar(length=20, default="")  # contact data: purged with the wave's contacts
    household_id = Varchar(length=60, default="")
    extra = Text(default="{}")


class Sample(Table, tablename="sample"):
    """A drawn sample: parameters, seed, frame fingerprint and package version reproduce it."""

    id = Serial(primary_key=True)
    wave = ForeignKey(Wave, null=False, on_delete=OnDelete.restrict)
    frame = ForeignKey(Frame, null=True, on_delete=OnDelete.restrict)
    method = Varchar(length=30)
    mode = Varchar(length=10, default="")  # web (invitations) | phone (CATI cases)
    params = Text(default="{}")
    seed = BigInt()
    frame_fingerprint = Varchar(length=64, default="")
    package_version = Varchar(length=40, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    created_by = Varchar(length=60, default="")


class SampledElement(Table, tablename="sampled_element"):
    """One selected frame row or generated number, in draw order, with its design weight.

    ``inclusion_prob`` is π in the whole drawn sample (all reserve batches); ``design_weight`` is
    1/π of the fielded sample — π scaled to the batches released so far — for a released element,
    and 0 for an element whose batch is not released (it stands for nobody yet).

    The fieldwork made of an element points back to it (``Invitation.sampled_element``,
    ``Case.sampled_element``): collection and CATI depend on the design, never the reverse.
    """

    id = Serial(primary_key=True)
    sample = ForeignKey(Sample, null=False, on_delete=OnDelete.cascade)
    position = Integer()
    frame_row = ForeignKey(FrameRow, null=True, on_delete=OnDelete.restrict)
    stratum = Varchar(length=60)
    unit = ForeignKey(Unit, null=True, on_delete=OnDelete.restrict)
    phone = Varchar(length=20, default="")
    inclusion_prob = Float()
    design_weight = Float()
    batch = Integer(default=0)
    released = Boolean(default=False)


class StratumTarget(Table, tablename="stratum_target"):
    """Completes wanted per stratum in a wave (drives the CATI queue and the supervisor view)."""

    id = Serial(primary_key=True)
    wave = ForeignKey(Wave, null=False, on_delete=OnDelete.restrict)
    stratum = Varchar(length=60)
    target = Integer()
