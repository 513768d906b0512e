"""Imports every domain's models so the metadata (and Alembic) sees all tables."""

from careweave.audit import models as _audit  # noqa: F401
from careweave.careteam import models as _careteam  # noqa: F401
from careweave.clinics import models as _clinics  # noqa: F401
from careweave.consent import models as _consent  # noqa: F401
from careweave.db.base import Base
from careweave.directory import models as _directory  # noqa: F401
from careweave.identity import models as _identity  # noqa: F401
from careweave.intake import models as _intake  # noqa: F401
from careweave.jobs import models as _jobs  # noqa: F401
from careweave.labs import models as _labs  # noqa: F401
from careweave.medications import models as _medications  # noqa: F401
from careweave.messaging import models as _messaging  # noqa: F401
from careweave.outcomes import models as _outcomes  # noqa: F401
from careweave.patients import models as _patients  # noqa: F401
from careweave.records import models as _records  # noqa: F401
from careweave.safety import models as _safety  # noqa: F401
from careweave.scheduling import models as _scheduling  # noqa: F401
from careweave.screening import models as _screening  # noqa: F401
from careweave.triage import models as _triage  # noqa: F401
from careweave.visits import models as _visits  # noqa: F401

metadata = Base.metadata
