from django.urls import path

from chalkboard.earnings.apis import (
    EarningApproveApi,
    EarningEntryListApi,
    EarningReviewApi,
    PayoutListApi,
    TeacherEarningsApi,
)

urlpatterns = [
    path("teachers/<id:teacher_id>/earnings/", TeacherEarningsApi.as_view(), name="teacher-earnings"),
    path("earnings/entries/", EarningEntryListApi.as_view(), name="earning-entries"),
    path("earnings/approve/", EarningApproveApi.as_view(), name="earnings-approve"),
    path("earnings/review/", EarningReviewApi.as_view(), name="earnings-review"),
    path("payouts/", PayoutListApi.as_view(), name="payouts"),
]
