"""Imports every table module so SQLModel.metadata is complete (for Alembic and the catalog tests)."""

from app.core import outbox  # noqa: F401
from app.customers import models as customers_models  # noqa: F401
from app.integrations import models as integrations_models  # noqa: F401
from app.reporting import models as reporting_models  # noqa: F401
from app.routing import models as routing_models  # noqa: F401
from app.routing.callbacks import models as callbacks_models  # noqa: F401
from app.sla import models as sla_models  # noqa: F401
from app.telephony import models as telephony_models  # noqa: F401
from billing import dunning_models, invoicing_models, margin_models  # noqa: F401
from billing import models as billing_models  # noqa: F401
from billing.stripe import models as stripe_models  # noqa: F401
from tenants import models  # noqa: F401
