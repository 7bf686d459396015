"""The RACI responsibility matrix: letters, the one-Accountable rule, CSV export and import."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from contracts import services, template_data
from contracts.models import ResponsibilityItem, normalise_letters

pytestmark = pytest.mark.django_db

HEADER = "area,activity,oem,ems\n"


def rows(contract):
    return [(i.area, i.activity, i.oem, i.ems) for i in contract.matrix.all()]


def lineages(contract):
    return {(i.area, i.activity): i.lineage for i in contract.matrix.all()}


def add(world, contract, **fields):
    return services.save_matrix_item(by=world.buyer, contract=contract, **fields)


def import_csv(world, contract, text, encoding="utf-8"):
    data = text.encode(encoding) if isinstance(text, str) else text
    return services.import_matrix_csv(by=world.buyer, contract=contract, data=data)


# --- Letters and the RACI rules -------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("a r", "RA"),
        ("RA", "RA"),
        ("ar", "RA"),
        ("i c", "CI"),
        ("r, a", "RA"),
        ("R/A/C", "RAC"),
        (" c + i ", "CI"),
        ("rra", "RA"),
        ("", ""),
    ],
)
def test_letters_are_normalised(typed, stored):
    assert normalise_letters(typed) == stored


@pytest.mark.parametrize(("oem", "ems"), [("a r", "c"), ("A, R, C", "i"), ("I", "r/a")])
def test_saving_a_row_stores_normalised_letters(world, draft, oem, ems):
    item = add(
        world, draft, area="  Logistics ", activity="Customs and export control ", oem=oem, ems=ems
    )

    item.refresh_from_db()
    assert (item.area, item.activity) == ("Logistics", "Customs and export control")
    assert (item.oem, item.ems) == (normalise_letters(oem), normalise_letters(ems))
    assert item.position > max(i.position for i in draft.matrix.exclude(pk=item.pk))


@pytest.mark.parametrize(
    ("oem", "ems", "errors"),
    [
        ("RA", "A", {"__all__": ["Exactly one side must be Accountable (A) for each activity."]}),
        ("C", "I", {"__all__": ["Exactly one side must be Accountable (A) for each activity."]}),
        ("", "", {"__all__": ["Exactly one side must be Accountable (A) for each activity."]}),
        ("A", "C", {"__all__": ["At least one side must be Responsible (R) for each activity."]}),
        ("AX", "R", {"oem": ["Use only the letters R, A, C and I (not X)."]}),
        ("A", "R?Z", {"ems": ["Use only the letters R, A, C and I (not ?, Z)."]}),
    ],
)
def test_invalid_letters_are_rejected(world, draft, oem, ems, errors):
    before = rows(draft)

    with pytest.raises(ValidationError) as exc:
        add(world, draft, area="Logistics", activity="Customs", oem=oem, ems=ems)

    assert exc.value.message_dict == errors
    assert rows(draft) == before


def test_editing_a_row_into_an_invalid_state_changes_nothing(world, draft):
    item = draft.matrix.get(activity="SMT and THT assembly")

    with pytest.raises(ValidationError, match="Exactly one side must be Accountable"):
        services.save_matrix_item(by=world.buyer, contract=draft, item=item, oem="A")

    item.refresh_from_db()
    assert (item.oem, item.ems) == ("I", "RA")


def test_a_duplicate_activity_is_rejected(world, draft):
    count = draft.matrix.count()

    with pytest.raises(ValidationError) as exc:
        add(world, draft, area="PCB assembly", activity="SMT and THT assembly", oem="A", ems="R")

    assert "already exists" in " ".join(exc.value.messages)
    assert draft.matrix.count() == count
    # The same activity in another area is a different row.
    add(world, draft, area="Box build", activity="SMT and THT assembly", oem="A", ems="R")


def test_a_row_of_another_contract_cannot_be_edited_through_this_one(world, draft):
    foreign = ResponsibilityItem(contract_id=draft.pk + 1000, area="X", activity="Y")

    with pytest.raises(PermissionDenied):
        services.save_matrix_item(by=world.buyer, contract=draft, item=foreign, oem="A", ems="R")


def test_deleting_a_row(world, draft):
    item = draft.matrix.get(activity="DFM/DFT review")

    services.delete_matrix_item(by=world.buyer, item=item)

    assert not draft.matrix.filter(activity="DFM/DFT review").exists()
    assert draft.matrix.count() == len(template_data.MATRIX) - 1


# --- CSV export and import ------------------------------------------------------------------


def test_export_writes_a_header_and_every_row(draft):
    text = services.export_matrix_csv(draft)

    lines = text.splitlines()
    assert lines[0] == "area,activity,oem,ems"
    assert len(lines) == 1 + len(template_data.MATRIX)
    assert lines[1] == "Quotation,Request for quotation and target prices,RA,C"
    # Commas inside a cell are quoted, so the round trip keeps them.
    assert 'NPI documentation,"Gerber, drill and pick-and-place data",RA,I' in lines


def test_csv_round_trip_changes_nothing(world, draft):
    before_rows, before_lineage = rows(draft), lineages(draft)

    result = import_csv(world, draft, services.export_matrix_csv(draft))

    assert (result.created, result.errors) == (len(template_data.MATRIX), [])
    assert rows(draft) == before_rows
    assert lineages(draft) == before_lineage


def test_csv_round_trip_into_another_contract(world, draft):
    edited = services.export_matrix_csv(draft).replace(
        "Quotation,Request for quotation", "Sales,Request for quotation"
    )
    other_buyer = world.outsider  # an admin of OEM B drafts for partnership B
    theirs = services.create_draft(by=other_buyer, partnership=world.theirs)

    result = services.import_matrix_csv(by=other_buyer, contract=theirs, data=edited.encode())

    assert result.errors == []
    assert rows(theirs)[0] == ("Sales", "Request for quotation and target prices", "RA", "C")
    assert rows(theirs)[1:] == rows(draft)[1:]
    assert not set(lineages(theirs).values()) & set(lineages(draft).values())


def test_import_replaces_the_matrix_and_normalises(world, draft):
    text = (
        HEADER
        + "Quality,Incoming inspection,a r,c\n"
        + 'Logistics,"Packaging, labelling",I,R/A\n'
        + 'Logistics,Shipping,"R, A, C",i\n'
    )

    result = import_csv(world, draft, text)

    assert (result.created, result.errors) == (3, [])
    assert rows(draft) == [
        ("Quality", "Incoming inspection", "RA", "C"),
        ("Logistics", "Packaging, labelling", "I", "RA"),
        ("Logistics", "Shipping", "RAC", "I"),
    ]
    assert [i.position for i in draft.matrix.all()] == [10, 20, 30]


def test_import_accepts_a_byte_order_mark_and_a_loosely_written_header(world, draft):
    text = "\ufeff Area , ACTIVITY,Oem,ems\nQuality,Incoming inspection,RA,C\n"

    result = import_csv(world, draft, text)

    assert result.errors == []
    assert rows(draft) == [("Quality", "Incoming inspection", "RA", "C")]


def test_import_is_all_or_nothing_and_names_the_rows(world, draft):
    before_rows, before_lineage = rows(draft), lineages(draft)
    text = (
        HEADER
        + "Quality,Incoming inspection,RA,C\n"  # row 2: fine
        + "Quality,Final inspection,RA,A\n"  # row 3: two Accountables
        + "Logistics,Shipping,I,RA\n"  # row 4: fine
        + "Logistics,Customs,X,RA\n"  # row 5: unknown letter
        + "Logistics,Labelling,A,C\n"  # row 6: nobody Responsible
        + "quality,INCOMING inspection,RA,C\n"  # row 7: row 2 again
        + ",Packaging,RA,I\n"  # row 8: no area
    )

    result = import_csv(world, draft, text)

    assert result.created == 0
    assert result.errors == [
        "Row 3: Exactly one side must be Accountable (A) for each activity.",
        "Row 5: oem: Use only the letters R, A, C and I (not X).",
        "Row 6: At least one side must be Responsible (R) for each activity.",
        "Row 7: this activity appears twice.",
        "Row 8: area: This field cannot be blank.",
    ]
    assert rows(draft) == before_rows
    assert lineages(draft) == before_lineage


def test_one_bad_row_in_the_middle_writes_nothing(world, draft):
    before = rows(draft)
    good = "".join(f"Area {n},Activity {n},A,R\n" for n in range(50))
    text = HEADER + good + "Area X,Activity X,A,A\n" + good.replace("Area", "Zone")

    result = import_csv(world, draft, text)

    assert result.errors == ["Row 52: Exactly one side must be Accountable (A) for each activity."]
    assert rows(draft) == before


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "The first line must be: area,activity,oem,ems"),
        (
            b"area;activity;oem;ems\nQuality;Inspection;RA;C\n",
            "The first line must be: area,activity,oem,ems",
        ),
        (
            b"activity,area,oem,ems\nInspection,Quality,RA,C\n",
            "The first line must be: area,activity,oem,ems",
        ),
        (
            b"area,activity,oem\nQuality,Inspection,RA\n",
            "The first line must be: area,activity,oem,ems",
        ),
        (
            "area,activity,oem,ems\nQualität,Prüfung,RA,C\n".encode("latin-1"),
            "The file is not UTF-8 encoded CSV.",
        ),
        (b"area,activity,oem,ems\n", "The file has no rows."),
        (b"area,activity,oem,ems\n\n\n", "The file has no rows."),
    ],
    ids=[
        "empty",
        "semicolons",
        "columns-swapped",
        "column-missing",
        "latin-1",
        "header-only",
        "blank-lines",
    ],
)
def test_unusable_files_are_rejected_with_a_clear_error(world, draft, data, error):
    before = rows(draft)

    result = import_csv(world, draft, data)

    assert (result.created, result.errors) == (0, [error])
    assert rows(draft) == before


def test_non_ascii_utf8_is_fine(world, draft):
    result = import_csv(world, draft, HEADER + "Qualität,Prüfung der Lötstellen,RA,C\n")

    assert result.errors == []
    assert rows(draft) == [("Qualität", "Prüfung der Lötstellen", "RA", "C")]


def test_only_the_drafting_side_imports(world, draft):
    before = rows(draft)

    with pytest.raises(PermissionDenied):
        services.import_matrix_csv(
            by=world.account_manager, contract=draft, data=(HEADER + "A,B,A,R\n").encode()
        )

    assert rows(draft) == before


def test_import_keeps_lineage_so_versions_compare_row_by_row(world, active_contract):
    v1 = active_contract
    v2 = services.create_draft(by=world.buyer, partnership=world.ours)
    text = services.export_matrix_csv(v2)
    text = text.replace(
        "Logistics,Excess and obsolete inventory,A,R",
        "Logistics,Excess and obsolete inventory,A,RC",
    )
    text = text.replace("NPI documentation,DFM/DFT review,C,RA\r\n", "")
    text += "Logistics,Customs and export control,A,R\r\n"
    before = lineages(v2)

    result = import_csv(world, v2, text)

    assert result.errors == []
    after = lineages(v2)
    unchanged = set(before) - {("NPI documentation", "DFM/DFT review")}
    assert {key: after[key] for key in unchanged} == {key: before[key] for key in unchanged}
    diff = services.compare(v1, v2)["matrix"]
    assert [i.activity for i in diff["added"]] == ["Customs and export control"]
    assert [i.activity for i in diff["removed"]] == ["DFM/DFT review"]
    assert [(old.activity, changes) for old, _new, changes in diff["changed"]] == [
        ("Excess and obsolete inventory", [("ems", "R", "RC")])
    ]
