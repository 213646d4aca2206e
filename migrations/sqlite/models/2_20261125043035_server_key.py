from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    # The wrong-passphrase count moves to the receipt, so that a wrong passphrase
    # never rewrites the sealed row (on PostgreSQL each rewrite left a dead copy of
    # the ciphertext). Secrets stored before receipts existed get a receipt whose
    # lookup is random: nobody holds a key for it, it only carries the count.
    return """
        ALTER TABLE "secret" ADD "key_id" VARCHAR(32);
        INSERT INTO "receipt" ("lookup", "secret_lookup", "state", "created_at", "expires_at",
            "revealed_at", "failed_attempts", "purge_at")
        SELECT lower(hex(randomblob(32))), "lookup", 'pending', "created_at", "expires_at",
            NULL, "failed_attempts", "expires_at" + 604800
        FROM "secret" WHERE "lookup" NOT IN (SELECT "secret_lookup" FROM "receipt");
        ALTER TABLE "secret" DROP COLUMN "failed_attempts";"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "secret" ADD "failed_attempts" INT NOT NULL DEFAULT 0;
        ALTER TABLE "secret" DROP COLUMN "key_id";"""


MODELS_STATE = (
    "eJztWutTGzcQ/1c0/lIy4zBgniWfgKEJHWpaYNpm4sxZvlvbGt9JF0mH8aT537srnX1+gs"
    "9pKA9/AbwPafVbPXZ/+GslURHEZvMKQhCpxV9KR5Uj9rUieQL4x3yDKqvwNC3UJLC8FTsP"
    "7U2dUctYzUOL4jaPDaAoAhNqVAslyfivLrfMdoGFGrhVmiV8wGLgWjLeUpllnBlAnT1iwh"
    "pmLLfAuIyYFQmYKpNwC9qpQiUtSLtJ80YqxImF7PyYKRqyIZvNWKleljabTBgcQkl428eB"
    "u9x0mWq7CZvNHIugB4Nm8x0K/EzBmG9DkqmX/2SY6kvmtW6oKut3RdhlIZdSWdYRt5APnY"
    "/kRmYtHvY2KSgXvY8pBRkhBFWmcQE8hojh2luZlhC9w4BzNctDxHmUARoC7lKhwQTc4jgY"
    "A0u5MeiN6EW4UsO8QbSJQbS5wIHR1EKSWuMnxvgacrSgvlay85bGSLuaG0yDyhBDdkOr7g"
    "OkCC7uIbDgPJlWfQQzdKGkme7AdCCb7AwTMsghcwoEn234z5RAhdGxFrTxd0Pm66OwhbGo"
    "6IMGB6R0fn1hu5hulslOBsbQLq7iB2FMhsY+FW/crkLhlwwCqzqAgWrcW58+o1jICO7A0M"
    "dPlWHElc+kSntBW0A8eaKEOz9OHthB6mQnonMu7S/OlvZvKwhVnCWysE8HtqvkyEFId8A6"
    "IEFjxmkGqzM6YDKL4/woDs+cD7ww8RGP+UTQ5llMx5S8fQCFrBIE9cub4PrsJggqM0d46D"
    "F25HIRHhc6/hiqcQB0KIS3P9dqOzsHta2d/cO93YODvcOtQ7R18c6qDr75YAq0/FAOs/P3"
    "5/UbCkjhHePvHhJ8cz7ccu/lElOg7xM6m4HTLtfz8S88pnKAi5vOwRDxp5uEhN8FMciO7e"
    "LH/d178P3z+Or0w/HVxv7um0mQ67mm5lQEdwHvxP1WBuUZxzXYD4NNl30pkIcO/w24Q0GB"
    "bvHKPzq82/tLwLu9vxBeUk3C6+oF97qVu7An/R6+uJ8D1I94dxcJKCqRcgmY9FsnYOUEDC"
    "vH0hmYclwpBflN/bozMFVgz2ZhYQrmeL6kk1Db3j3YPdzZ3x3BP5Lch/oswqOKvdQGH/d6"
    "SbA+wvamxqjdGyvOSUANbJ/rKJjRqJpaZDurSmrJtIRL3nFw0rop4JzRuHYF52LGY0JfvY"
    "/w8KXrcnzHpaRe33Xjef/a58JSH24VtqyuyZ6lMJbyIlbig8KlM6lYDwZVNtZ0Y+ufxpRs"
    "uLNH7AHywlMSUxQDMSLNZihSbH1pFBSpFCQ13/HAd9Hk5SZ2DMDY7I5NcSyHJi4FbXAo/B"
    "mICIch4A3bqGMUR8Nl+u49d2hItB018G88d0A8gSB6QeANJx1l4ObxXELkBEPyJksjOolH"
    "Dakk+10Z29Fw/ccFA0ckeC3rqyyOiBi6BUcMJBRAqNLBkM4p1s4EYs1xKo7rylJiDIxyNv"
    "PZDhaLW1yikJ7h8IzE0pzCWDmzZhXWrMJTTMKPbnR5PPd9llwPFnS6uccUuK2BBfMMX+f7"
    "NuzF5QmNnBjzJc4RPjmvH1993Pjt+G8HcjLIVReX9fdD+9Rfg8aN8fHm7HgKc0kXaDnQRy"
    "5r1FdFvXhjykE/6bfGf1X8e1E7oP/7ILSmZEsw47ruC1ZuewnLBLACGwQ90Sqfh0nfdSK+"
    "KxEp1zyOIRYmKZ+JKed1KlZPheuXytSYhcdKNeZTI+Amisyd2hJF5k5tYZFJqjXd/6Q2+J"
    "ruf71s3DFoEXYrc3i4XFO9j4Hjhc1DDNziFDxMxZQiX14L8/KdRPxiTuUWtKGQSjx4Yy4v"
    "8D/ctb29Jd48tFr46Dnd5KVLh6oEwrn5C0R3e2trmS8QbG0t/gYB6aZqCv+NwVmEf72+rC"
    "8oJwqXKZQjEVr2D8NS+jk+afeAS2BMNPNDTEe9/Bjcp3M6eRrg5P9+zL79C3f72fg="
)
