"""Who may do what with contracts and decision requests, in the portal's one permission
vocabulary (``partnership.permissions``). Views and templates ask the public ``can_*``;
services and the API's upserts call the ``require_*``."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from partnership.permissions import (
    DECISION_ANSWERERS,
    EDITORS,
    EMS,
    EMS_EDITORS,
    OEM,
    SIGNERS,
    has_role,
    require_role,
    side_membership,
)

from ..models import Contract

# --- public checks (views, templates, services) --------------------------------------------


def can_draft(user, partnership) -> bool:
    """Every member who may change things (not viewers) drafts and reviews versions."""
    return has_role(user, partnership, EDITORS)


def can_sign(user, contract) -> bool:
    """A signer of the user's side (OEM: admins and buyers; EMS: admins and account managers)."""
    side, m = side_membership(user, contract.partnership)
    return bool(m and m.role in SIGNERS.get(side, ()))


def can_edit(user, contract) -> bool:
    """Drafts are edited by the side that drafted them."""
    _side, m = side_membership(user, contract.partnership)
    return bool(
        contract.is_editable
        and m
        and m.role in EDITORS
        and m.organization_id == contract.drafted_by_id
    )


def can_raise(user, partnership) -> bool:
    """The EMS's editors raise (and withdraw) decision requests."""
    return has_role(user, partnership, EMS_EDITORS, EMS)


def can_answer(user, partnership) -> bool:
    """The OEM's buyers, quality engineers and admins answer them."""
    return has_role(user, partnership, DECISION_ANSWERERS, OEM)


# --- requirements (services, API) ------------------------------------------------------------


def require_can_draft(user, partnership, message=None):
    return require_role(
        user, partnership, EDITORS, message=message or _("Your role cannot draft contracts.")
    )


def require_can_raise(user, partnership, message=None):
    """:func:`can_raise` or 403 — raising, restating (upserts) and withdrawing requests."""
    return require_role(
        user,
        partnership,
        EMS_EDITORS,
        EMS,
        message or _("Only EMS members (not viewers) raise decision requests."),
    )


def require_can_answer(user, partnership):
    return require_role(
        user,
        partnership,
        DECISION_ANSWERERS,
        OEM,
        _("Only OEM buyers, quality engineers and admins answer requests."),
    )


def require_can_sign(user, contract):
    if not can_sign(user, contract):
        raise PermissionDenied(_("Your role cannot sign contracts for your company."))


def require_editable(user, contract: Contract) -> None:
    """The version is a draft (read from the locked row) and the user's side drafted it."""
    # Trust the locked row, not the caller's instance: it may have been loaded before the
    # version was proposed or signed, and saving it would silently undo the signatures.
    contract.status = (
        Contract.objects.select_for_update().values_list("status", flat=True).get(pk=contract.pk)
    )
    if not contract.is_editable:
        raise ValidationError(
            _("Only a draft can be changed. Start a new version to change an active contract.")
        )
    if not can_edit(user, contract):
        raise PermissionDenied(_("Only the side that drafted this version can edit it."))
