"""Demo step of the collection area: ten working invitation links for the open demo wave.

Tokens are derived from the demo seed (HMAC-SHA-256), so a second ``survey demo`` finds the
same invitations and prints the same links; a link that has been used up (completed or screened
out) is replaced by the next derived one, so ten links that can still be answered are printed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from questionnaires import default_instruments
from survey.collection.invitations import TOKEN_BYTES, token_hash
from survey.collection.tables import Contact, Invitation
from survey.db import write_transaction
from survey.demo_context import DemoContext
from survey.programmes.service import instrument_of_wave

LINKS = 10
# One of each single-index web questionnaire first, then the programme's web instrument (the
# combined 两率一度 questionnaire worded for self-completion): never the telephone script.
DEMO_INSTRUMENTS: tuple[str, ...] = ("anquangan", "zhixiaolv", "manyidu")
NAMES = {
    "anquangan": "公众安全感",
    "zhixiaolv": "平安建设知晓率",
    "manyidu": "政法队伍满意度",
    "liangshuaiyidu_web": "两率一度（合并问卷，网页版）",
}


def demo_token(seed: int, n: int) -> str:
    """The n-th demo token for a seed: 128 bits, URL-safe, reproducible."""
    digest = hmac.new(f"pingan-demo-{seed}".encode(), str(n).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:TOKEN_BYTES]).decode().rstrip("=")


async def extend_demo(context: DemoContext) -> list[str]:
    """Make sure ten unused demo invitations exist; return the lines printing their links."""
    import datetime

    lines = ["问卷邀请链接（手机打开，每个链接只能提交一次）:"]
    web_instrument = await instrument_of_wave(context.wave_id, "web")
    found = 0
    n = 0
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
    async with write_transaction():
        while found < LINKS and n < 1000:
            token = demo_token(context.seed, n)
            instrument = DEMO_INSTRUMENTS[n] if n < len(DEMO_INSTRUMENTS) else web_instrument
            n += 1
            row = (
                await Invitation.select(Invitation.status, Invitation.instrument_id)
                .where(Invitation.token_hash == token_hash(token))
                .first()
            )
            if row is None:
                inserted = await Invitation.insert(
                    Invitation(
                        wave=context.wave_id,
                        token_hash=token_hash(token),
                        instrument_id=instrument,
                        expires_at=expires,
                        stratum="demo",
                    )
                ).returning(Invitation.id)
                await Contact.insert(
                    Contact(
                        wave=context.wave_id,
                        phone=f"1990000{n:04d}",
                        invitation=inserted[0]["id"],
                        token=token,
                    )
                )
            elif row["status"] not in ("pending", "started"):
                continue
            elif "web" not in getattr(default_instruments().get(row["instrument_id"]), "modes", ()):
                # An earlier demo gave this link the telephone script: an unopened one now opens
                # the web instrument; a started one (its answer began with the telephone
                # instrument) is no longer printed.
                if row["status"] != "pending":
                    continue
                await Invitation.update({Invitation.instrument_id: instrument}).where(
                    Invitation.token_hash == token_hash(token)
                )
            else:
                instrument = row["instrument_id"]
            found += 1
            lines.append(f"  {context.base_url}/s/{token}  {NAMES.get(instrument, instrument)}")
    return lines
