"""factory_boy factories that build realistic partnerships."""

import factory
from allauth.account.models import EmailAddress

from partnership.models import Membership, Organization, Partnership, Role, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified(self, create, extracted, **kwargs):
        """Users can log in straight away: their address is verified, as after sign-up."""
        if create:
            self.save()
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organisation {n} GmbH")
    kind = Organization.Kind.OEM
    country = "DE"
    time_zone = "Europe/Berlin"


class OEMFactory(OrganizationFactory):
    name = factory.Sequence(lambda n: f"OEM {n} Medical GmbH")
    kind = Organization.Kind.OEM


class EMSFactory(OrganizationFactory):
    name = factory.Sequence(lambda n: f"EMS {n} Assembly Sp. z o.o.")
    kind = Organization.Kind.EMS
    country = "PL"
    time_zone = "Europe/Warsaw"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OEMFactory)
    role = Role.BUYER


class PartnershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partnership

    oem = factory.SubFactory(OEMFactory)
    ems = factory.SubFactory(EMSFactory)
    status = Partnership.Status.ACTIVE
    description = "SMT assembly of controller boards"


def member(organization, role=Role.BUYER, **user_kwargs):
    """A new user with ``role`` in ``organization``."""
    user = UserFactory(**user_kwargs)
    MembershipFactory(user=user, organization=organization, role=role)
    return user
