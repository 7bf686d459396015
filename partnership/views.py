from collections import Counter

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django.views.generic import DetailView, TemplateView

from . import dashboard, history, list_specs, services
from .forms import (
    ApiTokenForm,
    InvitationForm,
    MembershipRoleForm,
    OrganizationForm,
    PartnershipForm,
    ProfileForm,
)
from .lists import EXPORT, ListMixin, export_response, list_context
from .middleware import SESSION_KEY
from .models import ApiToken, Invitation, Membership, Notification, Organization, Partnership, Role
from .permissions import can_edit_partnership, is_org_admin
from .scoping import PartnershipScopedMixin
from .tabular import FORMATS


def _form_errors_to_form(form, exc: ValidationError):
    """Attach a service's ValidationError to the form, field by field where it names fields."""
    if hasattr(exc, "error_dict"):
        for field, errs in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errs)
    else:
        form.add_error(None, exc)


class DashboardView(ListMixin, LoginRequiredMixin, TemplateView):
    """The partnerships of the organisation the user acts as, with their status."""

    template_name = "partnership/dashboard.html"
    list_spec = list_specs.PartnershipList

    def list_scope(self):
        active = self.request.active_membership
        return active.organization if active else None

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        organization = self.list_scope()
        base = Partnership.objects.for_user(
            self.request.user, organization=organization
        ).with_parties()
        # An organisation has tens of partnerships: read them once for the tiles and the status
        # counts (the list below pages and filters them itself).
        everything = list(base)
        counts = Counter(p.status for p in everything)
        if organization is not None:
            ctx["tiles"] = dashboard.tiles(self.request.user, organization, everything)
        ctx.update(
            partnerships=ctx["object_list"],
            status_tiles=[
                (value, label, counts.get(value, 0)) for value, label in Partnership.Status.choices
            ],
        )
        return ctx


class PartnershipDetailView(PartnershipScopedMixin, TemplateView):
    template_name = "partnership/partnership_detail.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        p = self.partnership
        members = (
            Membership.objects.filter(organization_id__in=[p.oem_id, p.ems_id])
            .exclude(user__email__endswith=".keys.invalid")  # API keys' service users
            .select_related("user")
        )
        ctx.update(
            oem_members=[m for m in members if m.organization_id == p.oem_id],
            ems_members=[m for m in members if m.organization_id == p.ems_id],
            my_side=p.side_of(self.membership.organization) if self.membership else None,
            can_edit=can_edit_partnership(self.request.user, p),
            tab="overview",
        )
        return ctx


class PartnershipHistoryView(PartnershipScopedMixin, TemplateView):
    template_name = "partnership/partnership_history.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        kind = history.get_kind("partnership")
        records = history.object_history(kind, self.partnership, self.partnership.pk)
        ctx.update(
            rows=history.object_rows(kind, self.partnership, records, limit=100), tab="history"
        )
        return ctx


class PartnershipEditView(PartnershipScopedMixin, TemplateView):
    template_name = "partnership/partnership_form.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not can_edit_partnership(
            request.user, self.partnership
        ):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.setdefault("form", PartnershipForm(instance=self.partnership))
        return ctx

    def post(self, request, *args, **kwargs):
        form = PartnershipForm(request.POST, instance=self.partnership)
        if form.is_valid():
            try:
                services.update_partnership(
                    by=request.user, partnership=self.partnership, **form.cleaned_data
                )
            except ValidationError as exc:
                _form_errors_to_form(form, exc)
            else:
                messages.success(request, _("Partnership updated."))
                return redirect(self.partnership)
        return self.render_to_response(self.get_context_data(form=form), status=400)


def _visible_organization(user, pk):
    """An organisation is visible to its members and to members of its partners."""
    return get_object_or_404(Organization.objects.for_user(user), pk=pk)


class OrganizationDetailView(ListMixin, LoginRequiredMixin, DetailView):
    template_name = "partnership/organization_detail.html"
    context_object_name = "organization"
    list_spec = list_specs.MemberList

    def list_scope(self):
        return self.get_object()

    def get_object(self, queryset=None):
        return _visible_organization(self.request.user, self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        org = self.object
        is_member = any(m.organization_id == org.pk for m in self.request.memberships)
        is_admin = is_org_admin(self.request.user, org)
        ctx.update(
            is_member=is_member,
            is_admin=is_admin,
            members=ctx["object_list"] if is_member else [],
            invitations=[i for i in org.invitations.select_related("invited_by") if i.is_pending]
            if is_admin
            else [],
            invite_form=self.kwargs.get("invite_form") or InvitationForm(),
            roles=Role.choices,
            partnerships=Partnership.objects.for_user(self.request.user)
            .filter(Q(oem=org) | Q(ems=org))
            .with_parties(),
        )
        return ctx


class OrganizationEditView(LoginRequiredMixin, TemplateView):
    template_name = "partnership/organization_form.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.organization = _visible_organization(request.user, kwargs["pk"])
        if not is_org_admin(request.user, self.organization):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        return self.render_to_response(
            {
                "form": OrganizationForm(instance=self.organization),
                "organization": self.organization,
            }
        )

    def post(self, request, *args, **kwargs):
        form = OrganizationForm(request.POST, instance=self.organization)
        if form.is_valid():
            form.save()
            messages.success(request, _("Organisation updated."))
            return redirect(self.organization)
        return self.render_to_response(
            {"form": form, "organization": self.organization}, status=400
        )


def _admin_org_or_404(request, pk):
    organization = get_object_or_404(
        Organization.objects.filter(memberships__user=request.user), pk=pk
    )
    if not is_org_admin(request.user, organization):
        raise PermissionDenied
    return organization


@login_required
@require_POST
def invite_member(request, pk):
    organization = _admin_org_or_404(request, pk)
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            services.invite_colleague(
                by=request.user, organization=organization, **form.cleaned_data
            )
        except ValidationError as exc:
            _form_errors_to_form(form, exc)
        else:
            messages.success(
                request, _("Invitation sent to %(email)s.") % {"email": form.cleaned_data["email"]}
            )
            return redirect(organization)
    view = OrganizationDetailView.as_view()
    request.method = "GET"
    response = view(request, pk=pk, invite_form=form)
    response.status_code = 400
    return response


@login_required
@require_POST
def revoke_invitation(request, pk, invitation_pk):
    organization = _admin_org_or_404(request, pk)
    invitation = get_object_or_404(organization.invitations, pk=invitation_pk)
    try:
        services.revoke_invitation(by=request.user, invitation=invitation)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Invitation revoked."))
    return redirect(organization)


@login_required
@require_POST
def change_member_role(request, pk, membership_pk):
    organization = _admin_org_or_404(request, pk)
    membership = get_object_or_404(organization.memberships, pk=membership_pk)
    form = MembershipRoleForm(request.POST, instance=membership)
    if not form.is_valid():
        messages.error(request, _("Choose a valid role."))
        return redirect(organization)
    try:
        services.change_role(by=request.user, membership=membership, role=form.cleaned_data["role"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Role updated."))
    return redirect(organization)


@login_required
@require_POST
def remove_member(request, pk, membership_pk):
    organization = _admin_org_or_404(request, pk)
    membership = get_object_or_404(organization.memberships, pk=membership_pk)
    try:
        services.remove_member(by=request.user, membership=membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("%(user)s was removed.") % {"user": membership.user})
    return redirect(organization)


def accept_invitation(request, token):
    invitation = get_object_or_404(
        Invitation.objects.select_related("organization", "invited_by"), token=token
    )
    if not invitation.is_pending:
        return render(
            request,
            "partnership/invitation.html",
            {"invitation": invitation, "invalid": True},
            status=410,
        )
    if not request.user.is_authenticated:
        return render(request, "partnership/invitation.html", {"invitation": invitation})
    if request.method == "POST":
        try:
            membership = services.accept_invitation(invitation=invitation, user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            request.session[SESSION_KEY] = membership.organization_id
            messages.success(request, _("Welcome to %(org)s.") % {"org": membership.organization})
            return redirect("dashboard")
    return render(request, "partnership/invitation.html", {"invitation": invitation})


@login_required
@require_POST
def switch_organization(request):
    try:
        org_id = int(request.POST.get("organization", ""))
    except ValueError:
        raise Http404 from None
    membership = get_object_or_404(
        Membership.objects.filter(user=request.user), organization_id=org_id
    )
    request.session[SESSION_KEY] = membership.organization_id
    target = request.POST.get("next") or reverse("dashboard")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("dashboard")
    return HttpResponseRedirect(target)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, _("Your settings were saved."))
            return redirect("profile")
        return render(request, "partnership/profile.html", {"form": form}, status=400)
    return render(request, "partnership/profile.html", {"form": form})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def api_tokens(request):
    form = ApiTokenForm(request.POST or None)
    new_key = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            _token, new_key = services.issue_api_token(
                user=request.user,
                name=form.cleaned_data["name"],
                expires_in_days=form.cleaned_data["expires_in_days"],
            )
            form = ApiTokenForm()
        else:
            status = 400
    spec = list_specs.ApiTokenList()
    if request.GET.get(EXPORT) in FORMATS:
        return export_response(request, spec, None, request.GET[EXPORT])
    ctx = list_context(request, spec, None)
    ctx.update(form=form, tokens=ctx["object_list"], new_key=new_key)
    return render(request, "partnership/api_tokens.html", ctx, status=status)


@login_required
@require_POST
def revoke_api_token(request, pk):
    token = get_object_or_404(ApiToken.objects.filter(user=request.user), pk=pk)
    services.revoke_api_token(user=request.user, token=token)
    messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("api_tokens")


class NotificationsView(ListMixin, LoginRequiredMixin, TemplateView):
    """The user's notifications, newest first; the ones shown are marked read."""

    template_name = "partnership/notifications.html"
    list_spec = list_specs.NotificationList

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        rows = list(ctx["object_list"])
        unread = [n.pk for n in rows if n.read_at is None]
        if unread:
            Notification.objects.filter(pk__in=unread).update(read_at=timezone.now())
        ctx.update(notifications=rows, unread_ids=set(unread))
        return ctx


notifications = NotificationsView.as_view()
