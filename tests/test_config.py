"""The configuration file: every address key checked by the one validator, errors that name the key
and its line, unknown keys refused, and the configurations the project ships and tests with loading."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from conftest import ROOT, Sakspost
from daemon import config
from daemon.config import ConfigError

# A few keys above every case, so that a line number is not 1 or 2 by chance.
PREAMBLE = '# sakspost\n\n[receiver]\nport = 2525\n\n'
DOMAIN = "kundesenter.nhn.example"


def refused(tmp_path, text: str) -> str:
    path = tmp_path / "sakspost.toml"
    path.write_text(PREAMBLE + text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    return str(caught.value)


def line_of(text: str, needle: str) -> int:
    """The line of NEEDLE in the file written from TEXT."""
    return (PREAMBLE + text).splitlines().index(needle) + 1


ADDRESS_KEYS = {
    "[nhn].intake_address": ('[nhn]\nphone = "24 20 00 00"\nintake_address = "{}"\n', 'intake_address = "{}"'),
    "[identity].address": ('[identity]\nname = "Brukerstøtte"\naddress = "{}"\n', 'address = "{}"'),
    "[[address]][1].email": ('[[address]]\nemail = "a@sykehus.example"\n\n[[address]]\nrole = "support"\nemail = "{}"\n',
                             'email = "{}"'),
    "[[actor]][0].contact": ('[[actor]]\nid = "nhn"\nname = "NHN"\nkind = "nhn"\ncontact = "{}"\n', 'contact = "{}"'),
    "[[actor]][0].local_support": ('[[actor]]\nid = "s"\nname = "S"\nkind = "source"\nlocal_support = "{}"\n',
                                   'local_support = "{}"'),
    "[notify].address": ('[notify]\naddress = "{}"\n', 'address = "{}"'),
    "[citizen].escalation_address": ('[citizen]\nescalation_address = "{}"\n', 'escalation_address = "{}"'),
    "[citizen].log_followup_address": ('[citizen]\nlog_followup_address = "{}"\n', 'log_followup_address = "{}"'),
    "[digest].recipients[0]": ('[digest]\nrecipients = ["{}"]\n', 'recipients = ["{}"]'),
    "[[actor]][0].handlers[1]": ('[[actor]]\nid = "s"\nname = "S"\nkind = "source"\n'
                                 'handlers = ["ola@s.example", "{}"]\n', 'handlers = ["ola@s.example", "{}"]'),
}


@pytest.mark.parametrize("key", ADDRESS_KEYS)
def test_an_address_key_holding_a_bare_domain_is_refused_with_key_and_line(tmp_path, key):
    template, needle = ADDRESS_KEYS[key]
    text = template.format(DOMAIN)
    message = refused(tmp_path, text)
    line = line_of(text, needle.format(DOMAIN))
    assert f"sakspost.toml line {line}: {key}: \"{DOMAIN}\" is not an e-mail address" in message, message
    assert "@-sign" in message  # the validator's own reason


@pytest.mark.parametrize("key", ADDRESS_KEYS)
def test_the_same_key_takes_an_address(key, tmp_path):
    template, _ = ADDRESS_KEYS[key]
    path = tmp_path / "sakspost.toml"
    path.write_text(PREAMBLE + template.format("kundesenter@nhn.example"), encoding="utf-8")
    config.load(path)


@pytest.mark.parametrize("address", ["brukerstotte@staging.test", "drift@sykehus.local",
                                     "noreply@sakspost.invalid", "ops@host.localhost", "Drift@Intern.LOCAL"])
def test_special_use_domains_are_accepted_where_a_deployment_has_them(tmp_path, address):
    """RFC 6761's .test (staging), .invalid and .localhost, and .local (a hospital's internal mail
    domain) started before the switch to email-validator and still do, in address and domain keys."""
    domain = address.rpartition("@")[2]
    path = tmp_path / "sakspost.toml"
    path.write_text(PREAMBLE + f'[identity]\naddress = "{address}"\n\n[nhn]\nsender_domains = ["{domain}"]\n'
                    f'\n[limits]\nexempt_senders = ["@{domain}", "{address}"]\n', encoding="utf-8")
    loaded = config.load(path)
    assert loaded.identity.address == address and loaded.is_nhn_sender(f"kari@{domain}")


def test_special_use_names_are_still_checked_as_addresses(tmp_path):
    assert "two periods" in refused(tmp_path, '[identity]\naddress = "a@sykehus..local"\n')
    assert "special-use" in refused(tmp_path, '[identity]\naddress = "a@hidden.onion"\n')  # not a mail domain


def test_relaying_from_an_invalid_address_is_warned_of(tmp_path):
    path = tmp_path / "sakspost.toml"
    path.write_text('[relay]\nhost = "127.0.0.1"\nport = 2526\nstarttls = false\n', encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "daemon", "--config", str(path), "check-config"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "[identity].address is 'brukerstotte@sakspost.invalid'" in out.stdout + out.stderr
    path.write_text(path.read_text() + '\n[identity]\naddress = "brukerstotte@sykehus.example"\n')
    out = subprocess.run([sys.executable, "-m", "daemon", "--config", str(path), "check-config"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and ".invalid" not in out.stdout + out.stderr


EARLIER = sorted((ROOT / "tests" / "data" / "config").glob("sakspost-*.toml"))


@pytest.mark.parametrize("path", EARLIER, ids=[p.stem for p in EARLIER])
def test_the_example_of_every_earlier_release_still_loads(path):
    """tests/data/config holds config/sakspost.toml as earlier releases shipped it (named by date and
    commit): what an operator copied then must still be read, with its addresses and sections."""
    loaded = config.load(path)
    assert loaded.source == str(path)
    assert loaded.receiver.port == 2525 and loaded.relay is not None


def test_earlier_releases_are_kept():
    assert len(EARLIER) >= 5


def test_check_config_shows_every_problem_and_exits_2(tmp_path):
    path = tmp_path / "sakspost.toml"
    path.write_text(f'[nhn]\nintake_address = "{DOMAIN}"\n\n[notify]\naddress = "drift"\n', encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "daemon", "--config", str(path), "check-config"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2
    assert "configuration OK" not in out.stdout
    lines = out.stderr.splitlines()
    assert lines[0].startswith(f"sakspost: configuration error: {path} line 2: [nhn].intake_address: \"{DOMAIN}\"")
    assert lines[1].startswith(f"sakspost: configuration error: {path} line 5: [notify].address: \"drift\"")


def test_a_bad_list_entry_names_its_index_and_its_own_line(tmp_path):
    text = ('[limits]\nexempt_senders = [\n    "noreply@helsenorge.no",  # a system\n'
            '    "skjema.helsenorge.example",\n    "two words",\n]\n')
    message = refused(tmp_path, text)
    line = line_of(text, '    "two words",')
    assert f"line {line}: [limits].exempt_senders[2]: \"two words\" is neither an e-mail address nor a domain" \
        in message, message
    assert "exempt_senders[0]" not in message and "exempt_senders[1]" not in message


def test_a_bad_entry_in_an_array_of_tables_names_which_table(tmp_path):
    text = ('[[citizen.route]]\nmatch = "Haukeland"\nowner = "helse-vest"\n\n'
            '[[citizen.route]]\nmatch = "UNN"\nowner = "helse-nord"\n\n'
            '[[actor]]\nid = "helse-vest"\nname = "Helse Vest"\nkind = "source"\n')
    message = refused(tmp_path, text)
    line = line_of(text, 'owner = "helse-nord"')
    assert f"line {line}: [citizen].route[1].owner: 'helse-nord' is not an [[actor]] id" in message, message


def test_a_domain_key_takes_domains_and_refuses_addresses(tmp_path):
    path = tmp_path / "sakspost.toml"
    path.write_text('[nhn]\nsender_domains = ["nhn.example", "@helsenett.example"]\n', encoding="utf-8")
    assert config.load(path).is_nhn_sender("ola@helsenett.example")
    message = refused(tmp_path, '[nhn]\nsender_domains = ["nhn.example", "kundesenter@nhn.example"]\n')
    assert "[nhn].sender_domains[1]: \"kundesenter@nhn.example\" is not a domain" in message


@pytest.mark.parametrize("text, key, known", [
    ('[logging]\nformat = "text"\nfromat = "json"\n', "[logging].fromat", "format"),
    ('[[actor]]\nid = "a"\nname = "A"\nkind = "source"\n\n[[actor]]\nid = "b"\nname = "B"\nkind = "source"\n'
     'emial = "b@b.example"\n', "[[actor]][1].emial", "contact"),
    ('[incident.stale_days]\nE = 40\n', "[incident].stale_days.E", "A, B, C, D"),
])
def test_an_unknown_key_is_refused_by_its_name(tmp_path, text, key, known):
    message = refused(tmp_path, text)
    needle = text.splitlines()[-1]
    assert f"line {line_of(text, needle)}: {key}: unknown key (known: " in message, message
    assert known in message


def test_an_unknown_section_is_refused_by_its_name(tmp_path):
    text = '[recever]\nport = 25\n'
    message = refused(tmp_path, text)
    assert f"line {line_of(text, '[recever]')}: [recever]: unknown section (known: " in message, message
    with pytest.raises(ConfigError, match=r"\[source\]: unknown section"):
        config.parse({"source": "elsewhere"})


def test_values_of_the_wrong_type_are_not_converted(tmp_path):
    message = refused(tmp_path, '[outbox]\nmax_attempts = 12.5\n\n[pipeline]\nparse_helper = "yes"\n')
    assert "[outbox].max_attempts: expected an integer, got 12.5" in message
    assert "[pipeline].parse_helper: expected true or false, got 'yes'" in message


def test_the_shipped_configuration_loads(monkeypatch):
    monkeypatch.delenv("SAKSPOST_CONFIG", raising=False)
    shipped = config.load(ROOT / "config" / "sakspost.toml")
    assert shipped.nhn.intake_address == "kundesenter@nhn.example"
    assert shipped.roles_for("Innsyn+skjema@Sykehus.example") == ("citizen_forms",)
    assert shipped.actor_by_address("ola.innsyn@helse-vest.example").id == "helse-vest"
    assert shipped.is_handler("kari.drift@sykehus.example") and not shipped.is_handler("ola@x.example")
    assert shipped.relay is None  # outbound mail to the maildir until a relay is set
    default = config.load()
    assert default.source == "(embedded default)" and default.relay is None
    assert default.roles_for("anyone@anywhere.example") == ("support",)


def test_a_configuration_survives_the_trip_to_the_front_process():
    """`receive/link.py` pickles the configuration for the receiving process."""
    shipped = config.load(ROOT / "config" / "sakspost.toml")
    shipped.roles_for("innsyn@sykehus.example")  # a view already remembered travels too
    copy = pickle.loads(pickle.dumps((shipped, 20)))[0]
    assert copy == shipped and copy.source == shipped.source
    assert copy.roles_for("innsyn@sykehus.example") == ("citizen_forms",)
    assert copy.actor_by_address("kundesenter@nhn.example").id == "nhn"


def test_the_test_and_benchmark_configurations_load(tmp_path):
    import test_citizen
    import test_incident
    import test_trust
    import test_working_group
    from bench.peer import write_config
    from meeting_registry import settings

    for i, extra in enumerate([{}, test_citizen.CONFIG, test_incident.ACTORS, test_trust.ACTORS,
                               test_working_group.SIX_ACTORS]):
        (tmp_path / str(i)).mkdir()
        d = Sakspost(tmp_path / str(i), extra)
        assert config.load(d.config_path).receiver.port == d.port
    assert config.parse(settings(tmp_path)).digest.recipients
    assert config.load(write_config(tmp_path / "bench", 2600)).limits.exempt_senders


def test_the_line_is_found_past_multi_line_strings_inline_tables_and_comments(tmp_path):
    text = ('[citizen]\nletter_address = """Sykehuset\n[receiver]\nescalation_address = "x@y.example"\n"""\n'
            'answer_routine = \'\'\'svar # med "#besvart-per-post" ]\'\'\'  # [not a table]\n'
            'deadline_months = { copy_of_record = 1, access_log = 13 }\n'
            'escalation_address = "personvern"\n')
    message = refused(tmp_path, text)
    months = line_of(text, 'deadline_months = { copy_of_record = 1, access_log = 13 }')
    assert f"line {months}: [citizen].deadline_months.access_log: must be 12 or less, got 13" in message, message
    escalation = line_of(text, 'escalation_address = "personvern"')
    assert f"line {escalation}: [citizen].escalation_address: \"personvern\" is not an e-mail address" in message
