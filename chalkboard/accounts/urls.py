from django.urls import path

from chalkboard.accounts.apis import LoginApi, LogoutApi, MeApi, TokenInfoApi

urlpatterns = [
    path("auth/token/", LoginApi.as_view(), name="auth-token"),
    path("auth/token/info/", TokenInfoApi.as_view(), name="auth-token-info"),
    path("auth/logout/", LogoutApi.as_view(), name="auth-logout"),
    path("me/", MeApi.as_view(), name="me"),
]
