from django.urls import path

from sandbox.consumers import ChatConsumer

websocket_urlpatterns = [path("sandbox/ws/", ChatConsumer.as_asgi())]
