"""The audit templates the portal ships with. Questions paraphrase the public structure of
ISO 9001:2015 and of VDA 6.3-style process audits; a star marks a special-risk question."""

ISO9001 = {
    "key": "iso9001-qms",
    "name": "Quality-system audit (ISO 9001 style)",
    "kind": "quality_system",
    "scheme": "percent",
    "scale": [0, 5, 10],
    "description": "Conformity of the quality management system: 0 = not fulfilled, 5 = partly, 10 = fully.",
    "sections": [
        (
            "4",
            "Context of the organisation",
            [
                (
                    "4.1",
                    "Are internal and external issues relevant to the QMS determined and reviewed?",
                    "",
                ),
                (
                    "4.3",
                    "Is the scope of the QMS documented, including the sites and products for this OEM?",
                    "",
                ),
                ("4.4", "Are the QMS processes, their interactions, owners and KPIs defined?", ""),
            ],
        ),
        (
            "5",
            "Leadership",
            [
                (
                    "5.1",
                    "Does top management show commitment (reviews, resources, customer focus)?",
                    "",
                ),
                (
                    "5.2",
                    "Is the quality policy communicated and understood on the shop floor?",
                    "Ask operators.",
                ),
                ("5.3", "Are roles, responsibilities and authorities for quality assigned?", ""),
            ],
        ),
        (
            "6",
            "Planning",
            [
                ("6.1", "Are risks and opportunities assessed, with actions (e.g. FMEA)?", ""),
                ("6.2", "Are measurable quality objectives set and tracked?", ""),
            ],
        ),
        (
            "7",
            "Support",
            [
                (
                    "7.1.5",
                    "Are measuring and test equipment calibrated and traceable?",
                    "Sample 5 instruments.",
                ),
                (
                    "7.2",
                    "Are operators trained and certified (IPC-A-610 / J-STD-001) for their tasks?",
                    "",
                ),
                (
                    "7.5",
                    "Is documented information controlled (revisions, approvals, obsolete documents)?",
                    "",
                ),
            ],
        ),
        (
            "8",
            "Operation",
            [
                (
                    "8.2",
                    "Are customer requirements reviewed before accepting orders and changes?",
                    "",
                ),
                ("8.4", "Are external providers selected, evaluated and monitored?", ""),
                (
                    "8.5.1",
                    "Is production carried out under controlled conditions (work instructions, ESD, MSL)?",
                    "",
                ),
                ("8.5.2", "Is identification and traceability ensured down to component lots?", ""),
                ("8.7", "Are nonconforming outputs identified, segregated and dispositioned?", ""),
            ],
        ),
        (
            "9",
            "Performance evaluation",
            [
                ("9.1.2", "Is customer satisfaction monitored (OTD, PPM, complaints)?", ""),
                ("9.2", "Is an internal audit programme planned and carried out?", ""),
                ("9.3", "Are management reviews held with the required inputs and outputs?", ""),
            ],
        ),
        (
            "10",
            "Improvement",
            [
                (
                    "10.2",
                    "Are nonconformities analysed to root cause with effective corrective actions (8D)?",
                    "",
                ),
                ("10.3", "Is continual improvement evident (projects, trends)?", ""),
            ],
        ),
    ],
}

PROCESS = {
    "key": "process-audit",
    "name": "Process audit (VDA 6.3 style)",
    "kind": "process",
    "scheme": "process_audit",
    "scale": [0, 4, 6, 8, 10],
    "description": "Scores 10 / 8 / 6 / 4 / 0 for full, predominant, partial, insufficient or no fulfilment. * = special risk.",
    "sections": [
        (
            "P2",
            "Project management",
            [
                ("2.1", "Is a project management system with an organisation chart in place?", ""),
                ("2.4*", "Is a project plan in place and agreed with the customer?", ""),
                ("2.6", "Is change management established in the project?", ""),
            ],
        ),
        (
            "P3",
            "Planning of product and process development",
            [
                ("3.1", "Are the product and process requirements known?", ""),
                ("3.3*", "Are capacities for the serial process planned?", ""),
            ],
        ),
        (
            "P4",
            "Implementation of product and process development",
            [
                ("4.1", "Are the activities from the project plan implemented?", ""),
                (
                    "4.4*",
                    "Is the product and process release available?",
                    "First article, PPAP or equivalent.",
                ),
            ],
        ),
        (
            "P5",
            "Supplier management",
            [
                ("5.1", "Are only approved and quality-capable suppliers used?", ""),
                ("5.4*", "Are the agreed services of the suppliers evaluated?", ""),
                ("5.6", "Are purchased materials stored appropriately (MSL, ESD, FIFO)?", ""),
            ],
        ),
        (
            "P6",
            "Process analysis / production",
            [
                (
                    "6.1.1",
                    "Has the transfer from development to serial production been secured?",
                    "",
                ),
                (
                    "6.2.1*",
                    "Are the control parameters of the process (e.g. reflow profile, stencil) maintained?",
                    "",
                ),
                ("6.2.3", "Are in-process inspections (SPI, AOI, X-ray) effective?", ""),
                ("6.3.1", "Are employees qualified for their tasks?", ""),
                ("6.4.1", "Is the production equipment maintained and capable?", ""),
                (
                    "6.5.1*",
                    "Are nonconforming products identified, segregated and reworked per IPC-7711/7721?",
                    "",
                ),
                ("6.6.1", "Are product handling and packaging appropriate (ESD, moisture)?", ""),
            ],
        ),
        (
            "P7",
            "Customer care, customer satisfaction, service",
            [
                ("7.1", "Are the customer's quality requirements fulfilled?", ""),
                ("7.3*", "Is a complaint process with 8D analysis implemented?", ""),
            ],
        ),
    ],
}

PRELIMINARY = {
    "key": "preliminary-analysis",
    "name": "Preliminary analysis of a contractor",
    "kind": "preliminary",
    "scheme": "percent",
    "scale": [0, 5, 10],
    "description": "Desk review before an on-site audit.",
    "sections": [
        (
            "A",
            "Company",
            [
                ("A1", "Years on the market and financial stability", ""),
                ("A2", "Ownership, size and dependence on a few customers", ""),
            ],
        ),
        (
            "B",
            "Capabilities",
            [
                ("B1", "Technologies match our products (SMT, BGA, THT, coating, box build)", ""),
                ("B2", "Capacity for our volumes and a second site or line for continuity", ""),
                ("B3", "Test coverage: AOI, X-ray, ICT, FCT", ""),
            ],
        ),
        (
            "C",
            "Quality",
            [
                (
                    "C1",
                    "Certificates relevant to our industry (ISO 9001, ISO 13485, IATF 16949…)",
                    "",
                ),
                ("C2", "IPC-A-610 / J-STD-001 trained staff", ""),
            ],
        ),
        (
            "D",
            "References",
            [
                ("D1", "What other customers say (references, recommendations)", ""),
            ],
        ),
    ],
}

TEMPLATES = [ISO9001, PROCESS, PRELIMINARY]


def install(AuditTemplate, TemplateSection, TemplateQuestion):
    """Create the shipped templates (version 1) if they do not exist yet."""
    for data in TEMPLATES:
        if AuditTemplate.objects.filter(key=data["key"]).exists():
            continue
        template = AuditTemplate.objects.create(
            key=data["key"],
            version=1,
            name=data["name"],
            kind=data["kind"],
            scheme=data["scheme"],
            scale=data["scale"],
            description=data["description"],
            is_current=True,
        )
        for s_pos, (code, title, questions) in enumerate(data["sections"]):
            section = TemplateSection.objects.create(
                template=template, code=code, title=title, position=s_pos
            )
            TemplateQuestion.objects.bulk_create(
                TemplateQuestion(
                    section=section,
                    code=q_code.rstrip("*"),
                    text=text,
                    guidance=guidance,
                    starred=q_code.endswith("*"),
                    position=q_pos,
                )
                for q_pos, (q_code, text, guidance) in enumerate(questions)
            )


def ensure_installed():
    """The shipped templates with the current models (tests that flush tables, a fresh demo)."""
    from .models import AuditTemplate, TemplateQuestion, TemplateSection

    install(AuditTemplate, TemplateSection, TemplateQuestion)
