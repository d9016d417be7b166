"""API representations of orders."""

from rest_framework import serializers

from catalog.models import Product
from customers.models import Customer
from orders.models import Order, OrderItem


class CustomerSummarySerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = Customer
        fields = ["id", "username", "email", "city"]


class ProductSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "name", "slug", "sku"]


class OrderItemSerializer(serializers.ModelSerializer):
    product = ProductSummarySerializer()
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        model = OrderItem
        fields = ["id", "product", "quantity", "unit_price", "line_total"]


class OrderSerializer(serializers.ModelSerializer):
    # TODO(lesson 6): lists use this full serializer too, every item nested;
    # give the list a lean one.
    customer = CustomerSummarySerializer()
    items = OrderItemSerializer(many=True)

    class Meta:
        model = Order
        fields = ["id", "status", "created_at", "total", "customer", "items"]
