def organization_panel_context(request, organization):
    return None
