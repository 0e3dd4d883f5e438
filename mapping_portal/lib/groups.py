def ensure_group(name: str, permissions: list[tuple[str, str]], using: str = "default") -> None:
    """Create the group `name` if missing and give it `permissions` ((app_label, codename)
    pairs). Called from post_migrate handlers, so it is idempotent and skips permissions that do
    not exist yet."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.using(using).get_or_create(name=name)
    for app_label, codename in permissions:
        perm = (
            Permission.objects.using(using)
            .filter(content_type__app_label=app_label, codename=codename)
            .first()
        )
        if perm is not None:
            group.permissions.add(perm)
