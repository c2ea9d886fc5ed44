from django.urls import path

from chalkboard.webhooks import apis

urlpatterns = [
    path("webhook-endpoints/", apis.EndpointListApi.as_view(), name="webhook-endpoint-list"),
    path("webhook-endpoints/<id:endpoint_id>/", apis.EndpointDetailApi.as_view(), name="webhook-endpoint-detail"),
    path(
        "webhook-endpoints/<id:endpoint_id>/rotate-secret/",
        apis.EndpointRotateApi.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    path(
        "webhook-endpoints/<id:endpoint_id>/deliveries/",
        apis.DeliveryListApi.as_view(),
        name="webhook-delivery-list",
    ),
    path(
        "webhook-endpoints/<id:endpoint_id>/deliveries/<id:delivery_id>/redeliver/",
        apis.DeliveryRedeliverApi.as_view(),
        name="webhook-delivery-redeliver",
    ),
]
