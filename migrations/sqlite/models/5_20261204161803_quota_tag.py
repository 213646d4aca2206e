from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "secret" ADD "quota_tag" VARCHAR(64);
        CREATE INDEX "idx_secret_quota_t_3b0b2f" ON "secret" ("quota_tag", "expires_at");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "idx_secret_quota_t_3b0b2f";
        ALTER TABLE "secret" DROP COLUMN "quota_tag";"""


MODELS_STATE = (
    "eJztXG1z27gR/isYfTmrI3ts2bFd55OTS+/cSe3WcZvenG5IiIQojkiAAcDImmv+e3cBUn"
    "yRZIs6xaco/BJZABZYPLsCdh8u83snFj6L1NGPLAo/Mzm7Z56QfueK/N7hNGbwx4oRPdKh"
    "SVL0Y4Omw8iI+NlYM2qotKSehvYRjRTrYbfyZJjoUHAcfccZYZ8Z10QLohj38ZOSKRuOhZ"
    "hcET1mRKR6KB6PcEJfeDBjyIOGsgM+4B9lqDXjJOSmBxTjCnQDRYgYmSalqWbEG1MeMBJq"
    "IlkipFZHxHVNl+uSUA14AkuBCj2SbZX5REj4Qv3XsHzWS6SYwmjip4xQDTNw9qgdChrECX"
    "667oCnPGJKocpCTpgkYxH5ChZWJGJUMXLguuYPJ+U6jHB1q/oo1alkXdiV6xoAnNA3uiEK"
    "mlAFy91pdfgO+w5voK9n9wdWJbBdhvYhmS4G15SHn1LmaBEwGCgB3V9/g+aQ++yRKfz6a8"
    "dAgINrO+nASOhlnmTaiQD5NOn8htLJxBmFLKp6VGjcx7Q7epaYtjdhcMP138xYNPLQ8USU"
    "xrwYn8z0WPC5QMg1tgaMMwlK4QpapuhePI2izBNzj7N7K4bYTZVkfDaiaYROitJWgaKt4z"
    "i3dw/Oh3cPjtNZcOBcouSXWZMnODo/qKoMAAGqcPjXfv/09KJ/fHp++ers4uLV5fEljDX6"
    "LnZdfLHKFGjZqQxmNz/d3D6gQgJ+Yfanhw1fjAzV1EoZ2xXo596yaIO3YyqXW6AsU7MDbL"
    "Buhxz13TVETB+diPFAj+Hr6fkTGP/n+v7tz9f3B6fn3SrQt1lP33Qh5AXE1R9CA5wXBLcD"
    "dt5QoF0cxS8O9/nZGnCfn62EG7uqcBvvbOzOewrvaX8db+6v9uZ+HV7heamEGw7P+Ubndk"
    "3w+QP8WwD7Bc/w0oGS37trHyS5wB56+Mk65/XJ6vP6ZOG8zgIZtYjwSt8ui+yTY/dPzi7O"
    "Lk/Pz+b+PG95yo0XXbYeITY6OZYI7xPIL3x6lBKIZmaoCbYm2NwEVGkHD+W0ySFTk9oI/y"
    "yu3jH4t3bMGIiYlEI2uR6rUhvdkbuGa/WK7F+uc0f2L1dfkthXhXpOdTQ+zuuSe+TIL3CO"
    "II8ympRyeWwYUm8ypdJ3FnpEX6wau9gV9+N6C+U0MHDivlHhjAC8Zx4DmFYzhNUBvacIQm"
    "mHrscPfhxTbbgryI2pFpLEdIbsmOSEDkWqCSU2b74yvJll8ChSgWHMVI9w5LpMF5hQQ+a3"
    "SCNufwlkG13XJvKWl6NEcHY4hYnHVI1zvtF1MyycCZu57mvkGcskQMY3GurOtP+giJhyYn"
    "vNVD0yHYfemHiUc6FJAD+1bOpsJjMzQS8wdGHBY5I5jSlhAzSyLOYwlZxVeUyrIqwjFDOM"
    "42MSSqYMh4k6kIQqBdKAnq+QfLQDfKRNRzSMzC/fBsx2YdBvwOcbmkrBg0OcIxlLZD09AU"
    "HHEXnAXU8ZSxhyqxHTzEgaXlVwz6iSpDJgdUWOyDvDb9oVTAeATw7sdzSgQMp2yEbwOeDZ"
    "/lDtUMEBRKZwWBkguZGbhnoM5iYpD1KmFHpxD76ESqUw2JqiuzaJmmvcMqQ7ypA25+22Td"
    "jtEDu6fbpu19jR/Qa7ZY6+JnNk4oUNIuKqXJtYb5xYF5FIMwNU5VoDbGyAPHJsbIGaYJsT"
    "bmqBWoDdgF9aIrlPv4StkUzziL2Rg5el9gnW74fy+GACztWMR6W/9xThYUPX9fgOrGlSNh"
    "vP8tcpDTXm4VpAymqS7OWVUM9KISvxs6kw4oJM2KxHSkk3pP5JhMZmj/qKPENeWEqiRjEg"
    "I+K6XphA6ouzQJNIGMfkO5rZLBqlzMKGASitbtgUw3JI5FJgDEwF/9q6JgRekYNb0OIq36"
    "bN3jOBAYex8wS+e0SucxgMKxOFWBWVCR5kn2inriEHAI1ClQH3hNJYeTXxR85fYPXjrlGP"
    "gkawVAjeI103Ky7LYPHDgIFQxupUQKKehyVeiRTQi9pIBhAZheIUZBKIQ1hOd2QlY9OsUA"
    "1ZDlx7wC3/4ZuWnHBKEx9Pjyss6Pon6BxI9uFf77PaLttJpiKNfOSyPhtlBzxG0DyRzHJl"
    "C3thcRk1VWxEpwmSHEqYIcsJmgFHWlflJWkZi4Kcz6dUQG6taZB7DxgHdE8US33BZ/F8aW"
    "uXEhtkZwaRADwRrVBQa9T3ASnVfU3QDQgYH9FaIHMSJg9ze0OWw+ZOMefJcAUjzsVQ+LO1"
    "iZtSzGjq3ea7xAnKnS2v0/I6O2iEr0010GhphMSpnK3gGjKJGrjDmWbqG4yPnnLY93dvcO"
    "ZYqU9RhvCbm9vr+18O/nH9XwNyPMu63t/d/pSPT+yprswcvzy8u65XWeB10Az0uUiL+qao"
    "FzdmM+irci3+m+KPcRk+eXMwUGt2oy6ItpnZxsQDYhkziCdnziQcNrdDVbY1xB8yREIljS"
    "IWhSpubomacGuKzU1hMtYmMWYhsX91SNsvRs/z7yYIl2X2D+PtB/LtQ632odb3bYAKs7Pu"
    "MVMRas+Z5efMjjD7H+0Lwqup/eqA3lPcfvay8Xrk/nVeYviDIiodzvuQpUdG1LyappAfFT"
    "wv+Vsk+zeaxZYkWu4bq+XMcwAc/e/79wX9HgYcHxpYmV5OmafggbLEzxu6vUzQH9AKp4wc"
    "3BCJYjVGipazEFnVLpY3Wt1ABKJNnZc22j0MYaVM9SHTU8Y4TBrHVCEZ38sfGPdsgWLPdb"
    "tH5MeMFseHC3aunIZej9VtqdqdpGrbGrGXfn92Sd3AMy/QLqsX2Isqsa/x8sSL54W7jfH2"
    "E8OWCf8zmFgbHjR86jOXaXFvgvuOhM7XTIbeeFnMnPU8GSzTYsxzsfJq/Lcc1n0vMd0frI"
    "dbHa1BQqBQpQa3W0lkD6+3/qtXa9xvMGrlBWf6av9LQdIoEs6G7yG6J8fH6wRox8erAzTs"
    "q5Ge9sW9RYT//uHudgXfWYjUUPZDT5P/mQz3G0T7CXARjMp9lmM6v85KcL9dcpnhBG/+7M"
    "vsy/8BD7FT5g=="
)
