"""Forms of the catalog pages."""

from django import forms

from catalog.models import Review


class ReviewForm(forms.ModelForm):
    class Meta:
        model = Review
        fields = ["rating", "title", "body"]


class ProductImageForm(forms.Form):
    image = forms.ImageField()
