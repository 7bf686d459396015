"""Who is told what when a contract or a decision request changes: handlers of the events
``contracts.services`` emits (``partnership.events``), imported from ``ContractsConfig.ready``.

They run in the writer's transaction (notification rows commit with the write; e-mails leave
after the commit, see ``partnership.notifications``) and compute recipients, subject, body and
link from the event: its object, its author (``by``) and what the service passed in ``data``.
"""

from django.utils.translation import gettext as _

from partnership.models import Role
from partnership.notifications import key_people, members, notify
from partnership.registry import subscribe

from .models import DecisionMode

CONTRACT, DECISION = "contract", "decision_request"


# --- Contracts --------------------------------------------------------------------------------


@subscribe(kinds=CONTRACT, actions="proposed")
def tell_the_partner_of_a_proposal(events):
    """The side that did not draft the version reviews and signs it."""
    for event in events:
        contract = event.obj
        p = contract.partnership
        other = "ems" if p.side_of(contract.drafted_by) == "oem" else "oem"
        notify(
            key_people(p, other),
            partnership=p,
            subject=_("%(contract)s was proposed for your review and signature")
            % {"contract": contract},
            body=_(
                "%(who)s proposed version %(v)s. Review the changes and sign, or ask for changes."
            )
            % {"who": event.by, "v": contract.version},
            url=contract.get_absolute_url(),
        )


@subscribe(kinds=CONTRACT, actions="changes_requested")
def tell_the_drafters_of_requested_changes(events):
    for event in events:
        contract = event.obj
        p = contract.partnership
        notify(
            key_people(p, p.side_of(contract.drafted_by)),
            partnership=p,
            subject=_("Changes requested on %(contract)s") % {"contract": contract},
            body=event.data["reason"],
            url=contract.get_absolute_url(),
        )


@subscribe(kinds=CONTRACT, actions="activated")
def tell_both_sides_of_an_activation(events):
    for event in events:
        contract = event.obj
        p = contract.partnership
        notify(
            key_people(p, "oem") + key_people(p, "ems"),
            partnership=p,
            subject=_("%(contract)s is now active") % {"contract": contract},
            body=_("Both sides signed. Decision requests are now routed by this version's rules."),
            url=contract.get_absolute_url(),
        )


# --- Decision requests ------------------------------------------------------------------------


@subscribe(kinds=DECISION, actions="raised")
def tell_the_oem_of_a_request(events):
    """The OEM's key people: told, consulted or asked for approval, as the request was routed."""
    for event in events:
        request = event.obj
        if request.mode == DecisionMode.EMS_DECIDES:
            subject = _("%(ref)s decided by the EMS: %(title)s")
        elif request.mode == DecisionMode.CONSULT_OEM:
            subject = _("%(ref)s: the EMS consults you on %(title)s")
        else:
            subject = _("%(ref)s needs your approval: %(title)s")
        notify(
            key_people(request.partnership, "oem"),
            partnership=request.partnership,
            subject=subject % {"ref": request.reference, "title": request.title},
            body=request.routing_explanation,
            url=request.get_absolute_url(),
        )


@subscribe(kinds=DECISION, actions=["approved", "rejected", "acknowledged"])
def tell_the_ems_of_an_answer(events):
    for event in events:
        request = event.obj
        notify(
            [*key_people(request.partnership, "ems"), request.raised_by],
            partnership=request.partnership,
            subject=_("%(ref)s %(status)s by %(who)s")
            % {
                "ref": request.reference,
                "status": request.get_status_display().lower(),
                "who": event.by,
            },
            body=event.data["text"],
            url=request.get_absolute_url(),
        )


@subscribe(kinds=DECISION, actions="commented")
def tell_the_other_side_of_a_comment(events):
    for event in events:
        request = event.obj
        other = "ems" if event.data["side"] == "oem" else "oem"
        notify(
            key_people(request.partnership, other),
            partnership=request.partnership,
            subject=_("New comment on %(ref)s") % {"ref": request.reference},
            body=event.data["text"],
            url=request.get_absolute_url(),
        )


@subscribe(kinds=DECISION, actions="withdrawn")
def tell_the_oem_of_a_withdrawal(events):
    for event in events:
        request = event.obj
        notify(
            key_people(request.partnership, "oem"),
            partnership=request.partnership,
            subject=_("%(ref)s was withdrawn") % {"ref": request.reference},
            body=event.data["text"],
            url=request.get_absolute_url(),
        )


@subscribe(kinds=DECISION, actions=["deemed_accepted", "escalated"])
def tell_both_sides_of_an_escalation(events):
    """The OEM's buyers and the EMS's account managers, both sides' key people and whoever
    raised the request."""
    for event in events:
        request = event.obj
        p = request.partnership
        if event.action == "deemed_accepted":
            subject = _("%(ref)s deemed accepted: %(title)s")
        else:
            subject = _("Overdue: %(ref)s %(title)s is waiting for the OEM")
        people = (
            members(p, "oem", [Role.BUYER])
            + members(p, "ems", [Role.ACCOUNT_MANAGER])
            + key_people(p, "oem")
            + key_people(p, "ems")
            + [request.raised_by]
        )
        notify(
            people,
            partnership=p,
            subject=subject % {"ref": request.reference, "title": request.title},
            body=event.data["text"],
            url=request.get_absolute_url(),
        )
