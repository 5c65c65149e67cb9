// A storefront's first lines against the typed client that openapi-typescript generates from
// /api/v1/openapi.json (as ./api.ts, beside this file, by test_typed_client.py).
// It is only type-checked (tsc --strict --noEmit): each function leans on one promise of the
// document, and stops compiling when the document stops keeping it.
import type { components, operations, paths } from "./api";

type Product = components["schemas"]["Product"];
type Order = components["schemas"]["OrderOut"];
type OrderStatus = Order["status"];
type Checkout = components["schemas"]["CheckoutIn"];

// The body of an operation's answer with status S, for either media type.
type Answer<O extends keyof operations, S extends keyof operations[O]["responses"]> =
  operations[O]["responses"][S] extends { content: infer C }
    ? C extends { "application/json": infer B }
      ? B
      : C extends { "application/problem+json": infer P }
        ? P
        : never
    : never;

// Paths are checked against the document: a renamed path no longer compiles.
function url(base: string, path: keyof paths, ids: Record<string, string> = {}): string {
  return base + path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(ids[name]));
}

// Reads a product: 200 is a Product, 404 a problem whose type is product-not-found.
export async function readProduct(base: string, productId: string): Promise<Product | null> {
  const answer = await fetch(url(base, "/api/v1/products/{product_id}", { product_id: productId }));
  if (answer.status === 404) {
    const problem = (await answer.json()) as Answer<"getProduct", 404>;
    const kind: "https://emporium.dev/problems/product-not-found" = problem.type;
    console.warn(kind, problem.detail);
    return null;
  }
  const product = (await answer.json()) as Answer<"getProduct", 200>;
  // null: the product is not sold in the asked currency.
  const cents: number | null = product.price === null ? null : product.price.amount;
  const firstImage: string | undefined = product.images[0]?.thumbnail_url;
  console.log(product.name, cents, product.availability.in_stock, firstImage);
  return product;
}

// Narrows an order's status: the five statuses, and nothing else, are handled.
export function describeStatus(order: Order): string {
  switch (order.status) {
    case "pending":
      return "Waiting for stock and payment";
    case "confirmed":
      return "Paid; being prepared";
    case "rejected":
      return `Not in stock: ${order.status_reason ?? "sold out"}`;
    case "cancelled":
      return `Cancelled: ${order.status_reason ?? "on request"}`;
    case "shipped":
      return "On its way";
    default: {
      // A status the switch forgot (or a status that is any string) fails here.
      const unhandled: never = order.status;
      return unhandled;
    }
  }
}

// @ts-expect-error "paid" is not an order status
export const notAStatus: OrderStatus = "paid";

// Handles a 409 of the checkout: every kind the document declares, by its type.
export function explainConflict(problem: Answer<"placeOrder", 409>): string {
  switch (problem.type) {
    case "https://emporium.dev/problems/empty-cart":
      return "Your cart is empty.";
    case "https://emporium.dev/problems/cart-not-orderable":
      return "Some products in your cart can no longer be ordered.";
    case "https://emporium.dev/problems/idempotency-key-reused":
      return "This checkout was already sent with other details; start it again.";
    case "https://emporium.dev/problems/shipping-method-required":
      return "Choose a shipping method for this address first.";
    default: {
      const unhandled: never = problem.type;
      return unhandled;
    }
  }
}

export async function checkOut(
  base: string,
  token: string,
  body: Checkout,
  idempotencyKey: string,
): Promise<Order | string> {
  const answer = await fetch(url(base, "/api/v1/orders"), {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/json",
      "Idempotency-Key": idempotencyKey,
    },
    body: JSON.stringify(body),
  });
  if (answer.status === 409) {
    return explainConflict((await answer.json()) as Answer<"placeOrder", 409>);
  }
  if (answer.status === 422) {
    const invalid = (await answer.json()) as Answer<"placeOrder", 422>;
    return invalid.errors.map((error) => `${error.field}: ${error.message}`).join("; ");
  }
  const order = (await answer.json()) as Answer<"placeOrder", 202>;
  return order.status === "pending" ? order : describeStatus(order);
}

// Registering an email twice is the other 409 a shop meets first.
export function registerConflict(problem: Answer<"register", 409>): string {
  const kind: "https://emporium.dev/problems/email-taken" = problem.type;
  return kind.endsWith("/email-taken") ? "This email has an account: sign in instead." : kind;
}

export const aCheckout: Checkout = {
  shipping_address: {
    line1: "1 Main Street",
    city: "Berlin",
    postal_code: "10115",
    country: "DE",
  },
  payment: { card_token: "tok_visa" },
};
