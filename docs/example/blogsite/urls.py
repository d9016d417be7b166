from django.urls import path

from blog import views

urlpatterns = [
    path("", views.home, name="home"),
    path("posts/", views.post_list, name="post-list"),
]
