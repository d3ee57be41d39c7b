from django.urls import path

from sandbox.views import chat_page, staff_code

app_name = "sandbox"
urlpatterns = [
    path("", chat_page, name="chat"),
    path("staff-code/", staff_code, name="staff-code"),
]
