"""Orders placed in the demo shop, kept in memory (it is a demo)."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>.]{2,}$")
MAX_EMAIL = 254
MAX_NAME = 100


@dataclass(frozen=True)
class Order:
    id: str
    email: str
    name: str
    lines: list[dict[str, Any]]
    total: float
    created_at: int = field(default_factory=lambda: int(time.time()))

    def tracking_products(self) -> list[dict[str, Any]]:
        """The lines in the shape of the tracker's `log/sale` markup."""
        return [
            {"id": line["id"], "quantity": line["quantity"], "price": line["price"]}
            for line in self.lines
        ]


def valid_email(email: str) -> bool:
    return len(email) <= MAX_EMAIL and EMAIL.match(email) is not None


class OrderBook:
    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}

    def get(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    def place(self, *, email: str, name: str, cart_lines: list[dict[str, Any]]) -> Order:
        lines = [
            {
                "id": line["product"]["id"],
                "name": line["product"]["name"],
                "quantity": line["quantity"],
                "price": line["product"]["price"],
                "subtotal": line["subtotal"],
            }
            for line in cart_lines
        ]
        total = round(sum(line["subtotal"] for line in lines), 2)
        order = Order(self._new_id(), email, name[:MAX_NAME], lines, total)
        self._orders[order.id] = order
        return order

    def _new_id(self) -> str:
        while True:
            order_id = f"D{secrets.randbelow(1_000_000):06d}"
            if order_id not in self._orders:
                return order_id
