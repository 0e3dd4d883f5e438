from django.core.paginator import Paginator


def paginate(request, queryset, per_page: int, page_number=None):
    """A page of `queryset` (out-of-range or junk page numbers land on the nearest valid page),
    plus the query string without `page` for building page links."""
    page = Paginator(queryset, per_page).get_page(page_number)
    params = request.GET.copy()
    params.pop("page", None)
    return page, params.urlencode()
