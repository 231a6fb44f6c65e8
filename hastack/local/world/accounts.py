"""The one account of the local world (moto's default), shared by every emulated service."""

ACCOUNT_ID = "123456789012"
