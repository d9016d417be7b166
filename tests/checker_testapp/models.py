"""Small library models covering every kind of relation the checker follows."""

from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models


class Publisher(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class Author(models.Model):
    name = models.CharField(max_length=100)
    publisher = models.ForeignKey(
        Publisher, on_delete=models.CASCADE, related_name="authors"
    )

    def __str__(self) -> str:
        return self.name


class AuthorProfile(models.Model):
    author = models.OneToOneField(
        Author, on_delete=models.CASCADE, related_name="profile"
    )
    bio = models.CharField(max_length=200)

    def __str__(self) -> str:
        return f"Profile of {self.author_id}"


class Tag(models.Model):
    name = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    isbn = models.CharField(max_length=20)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    tags = models.ManyToManyField(Tag, related_name="books", blank=True)
    # A large column a list page has no use for.
    body = models.TextField(blank=True)
    notes = GenericRelation("Note", related_query_name="book")

    class Meta:
        indexes = [models.Index(fields=["isbn"], name="book_isbn_idx")]

    def __str__(self) -> str:
        return self.title


class Note(models.Model):
    """A note on any object: a generic foreign key and its reverse relation."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    subject = GenericForeignKey("content_type", "object_id")
    text = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.text
