"""A serializer that follows `Book.author` for every row it renders."""

from rest_framework import serializers

from tests.checker_testapp.models import Book


class BookSerializer(serializers.ModelSerializer):
    author_name = serializers.CharField(source="author.name")

    class Meta:
        model = Book
        fields = ["id", "title", "author_name"]
