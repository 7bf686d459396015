def portal(request):
    """Navigation context: the user's memberships and the organisation they act as."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    active = request.active_membership
    from .models import Notification

    return {
        "unread_notifications": Notification.objects.filter(
            user=request.user, read_at__isnull=True
        ).count(),
        "memberships": request.memberships,
        "active_membership": active or None,
        "active_organization": active.organization if active else None,
    }
