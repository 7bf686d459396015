"""A fully populated foreign partnership next to an (empty) partnership of ours.

"Theirs" is the demo's Nordwind Medical ↔ Baltic Assembly partnership (built through the
services like a user would, see ``partnership/demo.py``), completed with one of every object
type the demo does not create (attachments, evidence, invitations, keys, webhooks, feeds…).
"Ours" is a fresh OEM ↔ EMS pair with a user for each role and an API key of our OEM.
"""

import datetime as dt
import secrets

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone

from partnership.models import (
    ApiToken,
    BackgroundJob,
    Invitation,
    Organization,
    Partnership,
    Role,
    User,
)
from tests.factories import EMSFactory, OEMFactory, PartnershipFactory, member

# The synced types (upsert by external_id on the API): keys of ``TrustWorld.objects``.
EXTERNAL_ID_KEYS = (
    "product",
    "production_run",
    "meeting",
    "action_item",
    "problem",
    "goal",
    "finding",
    "decision_request",
    "long_lead_item",
)


class TrustWorld:
    def __init__(self):
        from audits import services as audit_services
        from audits.models import (
            Answer,
            Audit,
            AuditTemplate,
            Certificate,
            CorrectiveAction,
            Finding,
            KpiRecord,
            SupplierProfile,
            SupplierReference,
        )
        from comms import services as comms_services
        from comms.models import (
            ActionItem,
            AgendaItem,
            CalendarFeed,
            Goal,
            Meeting,
            Minutes,
            Problem,
        )
        from contracts import services as contract_services
        from contracts.models import Contract, DecisionAttachment, DecisionRequest, FlexBand
        from integrations import services as key_services
        from integrations.models import Tombstone, WebhookDelivery, WebhookSubscription
        from partnership.demo import load_demo_data
        from schedules import services as schedule_services
        from schedules.models import (
            CapacityAlert,
            CapacityPlan,
            DemandPublication,
            PriorityRequest,
            ProductionRun,
            ReadinessFile,
            ReadinessItem,
            RunChange,
        )

        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            load_demo_data()
        p = Partnership.objects.get(oem__slug="nordwind", ems__slug="baltic")
        self.theirs = p
        their_buyer = User.objects.get(email="buyer@nordwind.example")
        their_am = User.objects.get(email="account.manager@baltic.example")
        their_admin = User.objects.get(email="admin@nordwind.example")
        self.their_viewer = User.objects.get(email="viewer@nordwind.example")
        self.their_am = their_am
        self.their_buyer = their_buyer

        # --- ours: an empty partnership with a user per role and an API key -------------
        self.oem = OEMFactory(name="Ours Optics AG")
        self.ems = EMSFactory(name="Ours Assembly s.r.o.")
        self.ours = PartnershipFactory(oem=self.oem, ems=self.ems)
        self.users = {
            "buyer": member(self.oem, Role.BUYER, email="buyer@ours-oem.example"),
            "oem_admin": member(self.oem, Role.ADMIN, email="admin@ours-oem.example"),
            "oem_viewer": member(self.oem, Role.VIEWER, email="viewer@ours-oem.example"),
            "account_manager": member(self.ems, Role.ACCOUNT_MANAGER, email="am@ours-ems.example"),
            "ems_admin": member(self.ems, Role.ADMIN, email="admin@ours-ems.example"),
        }
        _key, self.api_key = key_services.issue_api_key(
            by=self.users["oem_admin"],
            organization=self.oem,
            name="Our ERP",
            scopes=["*:write"],
            role=Role.BUYER,
        )

        # --- theirs: complete the demo with every object type it lacks ------------------
        org = p.oem
        self.their_org = org
        decision = DecisionRequest.objects.filter(partnership=p).order_by("pk").first()
        attachment = DecisionAttachment.objects.create(
            request=decision,
            file=ContentFile(b"%PDF-1.4 secret quote", name="quote.pdf"),
            name="Murata quote.pdf",
            size=21,
            uploaded_by=their_am,
        )
        audit = Audit.objects.filter(partnership=p).first()
        evidence = audit_services.add_evidence(
            by=User.objects.get(email="quality@nordwind.example"),
            audit=audit,
            upload=SimpleUploadedFile("void-xray.png", b"\x89PNG\r\n\x1a\n...", "image/png"),
            caption="X-ray of U12",
        )
        problem = Problem.objects.filter(partnership=p).order_by("pk").first()
        comment = comms_services.comment_on_problem(
            by=their_am,
            problem=problem,
            text="Stencil drawing attached.",
            attachment=SimpleUploadedFile("stencil.pdf", b"%PDF-1.4 stencil", "application/pdf"),
        )
        certificate = Certificate.objects.filter(organization=p.ems).first()
        certificate.file.save("iso13485.pdf", ContentFile(b"%PDF-1.4 cert"), save=True)
        invitation = Invitation.objects.create(
            organization=org,
            email="newcomer@nordwind.example",
            role=Role.BUYER,
            invited_by=their_admin,
            expires_at=timezone.now() + dt.timedelta(days=7),
        )
        their_key, _plain = key_services.issue_api_key(
            by=their_admin, organization=org, name="Nordwind SAP", scopes=["*:read"], role="buyer"
        )
        api_token, _plain = ApiToken.issue(their_buyer, "Nordwind laptop")
        subscription = WebhookSubscription.objects.create(
            organization=org,
            partnership=p,
            url="https://erp.nordwind.example/hooks",
            events=["problem.changed"],
            created_by=their_admin,
        )
        delivery = WebhookDelivery.objects.create(
            subscription=subscription,
            event="problem.changed",
            partnership=p,
            payload={"id": problem.pk},
            status=WebhookDelivery.Status.FAILED,
        )
        feed = CalendarFeed.objects.create(user=their_buyer, token=CalendarFeed.new_token())
        SupplierReference.objects.create(
            partnership=p,
            company="Confidential Reference Customer Oy",
            verdict="positive",
            recorded_by=their_buyer,
        )
        Tombstone.objects.create(
            partnership=p, object_type="products", object_id=999999, external_id="SAP-GONE"
        )
        contract = Contract.objects.filter(partnership=p).order_by("-version").first()
        draft = contract_services.create_draft(by=their_buyer, partnership=p)
        product = p.products.order_by("pk").first()
        run = ProductionRun.objects.filter(partnership=p).order_by("pk").first()
        long_lead = schedule_services.save_long_lead_item(
            by=their_am,
            product=product,
            component="Murata GRM-LL-SECRET",
            lead_time_weeks=26,
            unit_price="4.20",
        )
        run_change = RunChange.objects.create(
            run=run,
            changed_by=their_buyer,
            weeks_out=6,
            previous_launch=run.planned_launch,
            previous_due=run.due_date,
            new_launch=run.planned_launch,
            new_due=run.due_date,
            previous_quantity=run.quantity,
            new_quantity=run.quantity + 1,
            verdict=RunChange.Verdict.WITHIN,
        )
        # Background jobs: one of the foreign buyer, one of a colleague in our own partnership
        # (oem_admin, not among the matrix's roles): both must 404 to everyone but the owner.
        job = BackgroundJob.objects.create(
            owner=their_buyer,
            partnership=p,
            kind=BackgroundJob.Kind.EXPORT,
            status=BackgroundJob.Status.DONE,
            filename="nordwind-problems.csv",
        )
        job.file.save("nordwind.csv", ContentFile(b"Solder voids under U12"), save=True)
        colleague_job = BackgroundJob.objects.create(
            owner=self.users["oem_admin"],
            partnership=self.ours,
            kind=BackgroundJob.Kind.EXPORT,
            status=BackgroundJob.Status.DONE,
            filename="colleague.csv",
        )
        colleague_job.file.save("colleague.csv", ContentFile(b"colleague"), save=True)

        self.objects = {
            "partnership": p,
            "organization": org,
            "membership": org.memberships.first(),
            "invitation": invitation,
            "api_key": their_key,
            "api_token": api_token,
            "webhook_subscription": subscription,
            "webhook_delivery": delivery,
            "contract": contract,
            "draft_contract": draft,
            "responsibility_item": draft.matrix.first(),
            "decision_rule": draft.rules.first(),
            "decision_request": decision,
            "decision_attachment": attachment,
            "product": product,
            "long_lead_item": long_lead,
            "run_change": run_change,
            "job": job,
            "colleague_job": colleague_job,
            "flex_band": FlexBand.objects.filter(contract__partnership=p).first(),
            "readiness_item": ReadinessItem.objects.filter(product__partnership=p).first(),
            "answer": Answer.objects.filter(audit__partnership=p).first(),
            "supplier_profile": SupplierProfile.objects.filter(organization=p.ems).first(),
            "supplier_reference": SupplierReference.objects.filter(partnership=p).first(),
            "agenda_item": AgendaItem.objects.filter(meeting__partnership=p).first(),
            "minutes": Minutes.objects.filter(meeting__partnership=p).first(),
            "readiness_file": ReadinessFile.objects.filter(
                item__product=p.products.order_by("pk").first()
            ).first(),
            "production_run": run,
            "priority_request": PriorityRequest.objects.filter(run__partnership=p).first(),
            "capacity_plan": CapacityPlan.objects.filter(partnership=p).first(),
            "demand_publication": DemandPublication.objects.filter(partnership=p).first(),
            "capacity_alert": CapacityAlert.objects.filter(partnership=p).first(),
            "audit": audit,
            "evidence": evidence,
            "finding": Finding.objects.filter(audit__partnership=p).first(),
            "corrective_action": CorrectiveAction.objects.for_partnership(p).first(),
            "certificate": certificate,
            "kpi": KpiRecord.objects.filter(partnership=p).first(),
            "meeting": Meeting.objects.filter(partnership=p).order_by("pk").first(),
            "action_item": ActionItem.objects.filter(partnership=p).first(),
            "problem": problem,
            "problem_comment": comment,
            "goal": Goal.objects.filter(partnership=p).first(),
            "audit_template": AuditTemplate.objects.first(),
            "calendar_feed": feed,
        }
        missing = [name for name, obj in self.objects.items() if obj is None]
        assert not missing, f"the foreign world lacks {missing}: extend tests/trust_world.py"

        # External ids on every synced foreign object: an upsert by one of them from our side
        # must create a separate object of ours (or be refused), never touch theirs.
        for key in EXTERNAL_ID_KEYS:
            obj = self.objects[key]
            type(obj)._base_manager.filter(pk=obj.pk).update(external_id=f"NW-{key.upper()}-1")
            obj.refresh_from_db()
        assert not missing, f"the foreign world lacks {missing}: extend tests/trust_world.py"

        # Strings that only the foreign partnership's objects contain.
        self.secrets = [
            org.name,
            p.ems.name,
            decision.title,
            problem.title,
            self.objects["meeting"].title,
            self.objects["goal"].title,
            self.objects["product"].name,
            certificate.number,
            attachment.name,
            "Confidential Reference Customer Oy",
            "Solder voids under U12",
            long_lead.component,
            their_buyer.email,
        ]
        self.tokens = {"invitation": invitation.token, "calendar_feed": feed.token}
        self.other_organizations = list(Organization.objects.exclude(pk__in=[self.oem.pk]))
        self.secret_token = secrets.token_urlsafe(8)
