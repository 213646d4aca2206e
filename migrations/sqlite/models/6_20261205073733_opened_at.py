from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "receipt" ADD "opened_at" BIGINT;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "receipt" DROP COLUMN "opened_at";"""


MODELS_STATE = (
    "eJztXG1z27gR/isYf4nVkT22/Frnk5K4iTs5++q4TW9ONyRIQiJHJMAAYGTNNf+9uwApiZ"
    "RkizrFp+j4JTIBLLB4dgksHizz+14iAharw3csjr4yOb5nvpDB3hX5fY/ThMEfS1q0yR5N"
    "02k9FmjqxUYkyNuaVp7Skvoayvs0VqyN1cqXUaojwbH1HWeEfWVcEy2IYjzAX0pGzAuFGF"
    "4RHTIiMu2Jx0PsMBA+9BjxQU3ZHu/xzzLSmnEScVMDinEFuoEiRPRNkdJUM+KHlA8YiTSR"
    "LBVSq0PiuqbKdUmkejyFoUCFNsmnygIiJDzQ4DUMn9cSKUbQmgQZI1RDD5w9aoeCBkmKv6"
    "7b4xmPmVKospBDJkko4kDBwIrEjCpG9l3X/OFkXEcxjm5V72c6k6wFs3JdA4ATBUY3REET"
    "qmC4O60OrrHu4Abq2nZ+YFUC02VoH5LrYnDNePQlY44WAwYNJaD7629QHPGAPTKFj7/uGQ"
    "iwcWUme9ASapkvmXZiQD5L935D6XTo9CMWlz0qMu5jyh09Tk3Zm2hww/U/TFs0suf4Is4S"
    "Pm2fjnUo+EQg4hpLB4wzCUrhCFpm6F48i+PcEwuPs3ObNrGTmpEJWJ9mMTopSlsFpmV7jn"
    "N79+B8un5wnL05By4kZvwyL/IFR+cHVZUBYIAqHPy90zk5uegcnZxfnp1eXJxdHl1CW6Pv"
    "fNXFN6vMFC3blcHs5v3N7QMqJOANs68eFnwzMlRTK2VsN0W/8JZ5G7wNqVxsgVmZih1ggl"
    "U7FKhvryES+ujEjA90CI8n509g/J/u/dsP3fv9k/NWGejbvKZjqhDyKcTlF6EGznOCmwG7"
    "KJiiPV2KXxzu89MV4D4/XQo3VpXhNt5Z2513FN6Tzire3FnuzZ0qvML3Mwk7HK7ztdbtiu"
    "DzC/iPAPYLruEzC0qx7668kBQCO+jhx6us18fL1+vjufU6D2TUPMJLfXtWZJccu3N8enF6"
    "eXJ+OvHnSclTbjzvstUIsdbKsUB4l0B+4dVj5gBRzwwVwcYE65uAKu3gopzVWWQqUmvhn8"
    "fVWwb/xpYZAxGTUsg622NZaq09cttwLW+RnctV9sjO5fJNEuvKUE+ojtrLeVVyhxz5BdYR"
    "5FH6w5mzPBZ41B+OqAycuRrREcvazlclnaRaQjkdGDhx3qhwTgDeM58BTMsZwnKD9lMEob"
    "RNV+MHP4dUG+4KzsZUC0kSOkZ2THJCPZFpQok9N18Z3swyeBSpwChhqk04cl2mCkyo4eQ3"
    "TyNufghkG13XHuQtL0eJ4OxgBB2HVIUF3+i6ORbOkI1d9zXyjLMkQM43GurOlL9SRIw4sb"
    "WmqzYZhZEfEp9yLjQZwKuWd533ZHom6AWGLpzymGRCY0qYAI0ti+llkrMyj2lVhHGEYoZx"
    "fEwjyZThMFEHklKlQBrQCxSSj7ZBgLRpn0axefNtwGwHBv16fDKhkRR8cIB9pKFE1tMXEH"
    "SgsAAVjLAVG4XM0p+gUZRGAPQrACeO+JCMYNR+JJUmfsj8ISizT4ndO8n76wec2Ifr7rs2"
    "+eenu1t8SsHNW6/JLViFmBDHoMzbxq6jnCgW3GeH5AHRHzGWMuR4Y6aZslqIkWmBkKSZHL"
    "AqIIfk2vCsdqamAofbt8/oSAKpY4/14bfHc5wRvkjBQkhGsGgag3IjN4p0COqBuoOMKYVv"
    "UxseIqUyaGxdorUymVto3DC1W8rU1ucPN00cbhFLu3nacNtY2t0Gu2GwvieDZeKWNSLzsl"
    "xzwF/7gD+NiOoZoCzXGGBtAxQRbG0LVASbs+m6FqgE+jV4rgWSu/QmbIzsmkTstRx8VmqX"
    "YH1h954cRWtegs6KNYvLD0h8fTLh/nLeq1Tffor2sgeH1VgvzGxTlpPJ2YMRjTSyMVoQjx"
    "mqZXE+3LNSyE19MHlmXJAhG7fJDPWCzEiMxmaP+oo8Q2FZYqpCNCF/4rp+lIZMYi9QhC8B"
    "Uh/x2HIYKGUGNjzQzOiGUzNcl0RGDdpAV/CvzW5D4BXZR8rmqpim5U5ygR6HthP6pHVIug"
    "UMhpuLkTEqBPfzX7RTy1AzgMZUlR73hdKYfzcM+s7fYPSjllGPgkYwVATeI133CvmYDz91"
    "3yIRE4DKZe3bE5BmST/q+5j0l0oBBajZhM4iSQaDphAR4gMMHibUP1Ah7ZydX2G+IGrggX"
    "rnp5mMkaPzKMw+ZI8kiAYMZCOOtJTCoRiVMGMJvZuLPFXQXK4beIdJNJCWBzSQgVpJyzJd"
    "edbiLAVmJm6Zr8AUtHvccp5ZGuDKRfa9TBOwBHREtXETpEahGkYBfK8w5/BnAHQg2ad/fc"
    "zTD61wj49EFgfIt35lhudK0KK+SMcFYFNnwvlRk2hJdJYi/6WE9aLFJCLBmwdVZE3mBBsy"
    "i18yoamj6aBwbYCBBeCMimWB4ONkMrb1mikDazsGkQG8JugiU/aXBgGYTrVe97jhFREQY4"
    "0S0UdSJg8KZ4QDMJt47ITKNapDW4BZeCIYr0zqzZwnTE7mZJrYwWxlw/k1nN8WGuF701A0"
    "Xhi/cSrHS3ioXKICrjfWTP2AsfNTDvvx7g32nCj1Jc4RfnNz273/Zf+n7n8NyMk4r/p4d/"
    "u+aJ/aZV2ZPn55uO5WM4Fww6gH+kSkQX1d1KdbZj3oy3IN/uvij1EjhkAOhpH1dtQ50ebU"
    "vvapHbFMGASUY2cYefXtUJZtDPGHDJFSSeOYxZFK6luiItyYYn1TmPN0nRhzKrF7uXKb/2"
    "CiYAfqIDwrs3sYbz6Qby48mwvPv7YBSszOqstMSahZZxavM1ty7/DZfsS+/OKh3KD91M1D"
    "/kH8alcP3SIN9pUiKvMmdXiHgDSo+XzSMMyCF6To/FXEWr3YtFnLzGMmpbmlwNb/vv84vR"
    "yIBhyvNKxMuyD0q/y7uQyYvT7YpyVSGTk4pNKJCpGi5SxCVrWFKbhWNxCBaFMX6bd2Dh6M"
    "lKvuMT1ijEOnSUIVsvXtIpmgbZNo267bOiTvcuIcrz5sXwUPvRqr21C1W0nVNvmDL/2N94"
    "Kckmc+8l6US7ITGYTf4wOfFz8XbjfGmz8YNkz4n8HE2vCg5q3PRKbBvQ7uWxI6d5mM/HBR"
    "zJzXPBks02mb52Ll5fhvOKz7q8R0fzBXcnm0BgcChSrV2N1mRHZwe+ucna2wv0GrpRucqa"
    "v8TxpprUg4b76D6B4fHa0SoB0dLQ/QsK5CetqPS+cRxm8al/CdU5EKykHka/I/c8L9AdF+"
    "AlwEo7SfFZhOtrMZuN8u2Mywgzd/9mb27f+YRDA6"
)
