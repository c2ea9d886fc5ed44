from django.urls import path

from chalkboard.calendars import apis

urlpatterns = [
    # A person's own feeds, with their bearer token.
    path("calendar-feeds/", apis.FeedListApi.as_view(), name="calendar-feed-list"),
    path("calendar-feeds/<id:feed_id>/", apis.FeedDetailApi.as_view(), name="calendar-feed-detail"),
    path("calendar-feeds/<id:feed_id>/rotate/", apis.FeedRotateApi.as_view(), name="calendar-feed-rotate"),
    # The feeds themselves, for calendar apps: the secret in the address is the credential.
    path("calendar/<str:token>.ics", apis.FeedIcsApi.as_view(), name="calendar-feed-ics"),
]
