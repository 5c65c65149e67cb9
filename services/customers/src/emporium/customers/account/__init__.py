"""The signed-in customer's own profile (/me) and addresses (/me/addresses)."""
