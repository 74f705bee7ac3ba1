"""API routes of the credential store: values go in and are never sent back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.http.deps import DbSession, require
from flywheel.vault import service
from flywheel.vault.schemas import CredentialCreate, CredentialOut, CredentialRotate

router = APIRouter(tags=["credentials"])

Reader = Annotated[Actor, Depends(require(Permission.CREDENTIAL_READ))]
Manager = Annotated[Actor, Depends(require(Permission.CREDENTIAL_MANAGE))]


@router.post("/credentials", response_model=CredentialOut, status_code=status.HTTP_201_CREATED)
def create_credential(data: CredentialCreate, session: DbSession, actor: Manager) -> CredentialOut:
    """Store a credential encrypted; the answer describes it without its value."""
    credential = service.create_credential(session, actor=actor, data=data)
    session.commit()
    return CredentialOut.model_validate(credential)


@router.get("/credentials", response_model=list[CredentialOut])
def list_credentials(session: DbSession, _: Reader) -> list[CredentialOut]:
    """Every credential's name, kind and fingerprint (never a value)."""
    return [CredentialOut.model_validate(c) for c in service.list_credentials(session)]


@router.get("/credentials/{name}", response_model=CredentialOut)
def get_credential(name: str, session: DbSession, _: Reader) -> CredentialOut:
    """One credential's description and fingerprint (never its value)."""
    return CredentialOut.model_validate(service.get_credential(session, name=name))


@router.post("/credentials/{name}/rotate", response_model=CredentialOut)
def rotate_credential(
    name: str, data: CredentialRotate, session: DbSession, actor: Manager
) -> CredentialOut:
    """Replace a credential's value; 409 when someone changed it since you read it."""
    credential = service.rotate_credential(
        session, actor=actor, name=name, version=data.version, value=data.value
    )
    session.commit()
    return CredentialOut.model_validate(credential)


@router.delete("/credentials/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_credential(name: str, session: DbSession, actor: Manager) -> None:
    """Remove a credential; 409 naming the CIs whose deploy settings still use it."""
    service.delete_credential(session, actor=actor, name=name)
    session.commit()
