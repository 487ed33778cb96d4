"""The operator's archive of erased tenants' invoices (``billing.archive``): issued documents kept for their
retention after the tenant's erasure, newest first, each downloadable as its PDF or the CSV of its lines."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import NotFoundError
from app.core.http import attachment
from app.core.settings import get_settings
from app.core.tenancy import Principal
from billing import archive, invoice_documents
from frontend.listing import ListWithForm, Window
from frontend.pages.billing import OPERATOR_BILLING_PATH, SHOWN
from tenants.auth import requires
from tenants.permissions import Permission

ARCHIVE_PATH = f"{OPERATOR_BILLING_PATH}/archive"
ARCHIVE = ListWithForm(
    path=ARCHIVE_PATH,
    template="billing/archive.html",
    lister=archive.list_archived,
    context=SHOWN,
)
MEDIA_TYPES = {"pdf": invoice_documents.PDF_MEDIA_TYPE, "csv": invoice_documents.CSV_MEDIA_TYPE}


@get(ARCHIVE_PATH, guards=[requires(Permission.READ_CROSS_TENANT)])
async def operator_archive(
    request: Request[Principal, Any, Any], session: AsyncSession, window: Window
) -> Response[Any]:
    return await ARCHIVE.render(
        request, session, window, retention_years=get_settings().billing_invoice_retention_years
    )


@get(f"{ARCHIVE_PATH}/{{archived_file:str}}", guards=[requires(Permission.READ_CROSS_TENANT)])
async def operator_archived_file(session: AsyncSession, archived_file: str) -> Response[bytes]:
    """``{id}.pdf`` or ``{id}.csv``: an archived document as printed when its tenant was erased, or its lines."""
    stem, _, extension = archived_file.partition(".")
    try:
        invoice_id = uuid.UUID(stem)
    except ValueError:
        raise NotFoundError("no such archived invoice") from None
    name, content = await archive.archived_file(session, invoice_id, extension)
    return attachment(content, MEDIA_TYPES[extension], name)
