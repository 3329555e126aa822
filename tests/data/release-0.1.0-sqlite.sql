-- The registry schema of sakspost 0.1.0 on sqlite, as its create_all made it (before migrations):
-- what tests/test_migrations.py upgrades from. Never edit.
CREATE TABLE "case" (
	id VARCHAR(20) NOT NULL, 
	kind VARCHAR NOT NULL, 
	state VARCHAR NOT NULL, 
	severity VARCHAR, 
	reporter VARCHAR NOT NULL, 
	reporter_name VARCHAR NOT NULL, 
	subject VARCHAR NOT NULL, 
	actor VARCHAR, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	closed_at DATETIME, 
	description TEXT NOT NULL, 
	service VARCHAR NOT NULL, 
	discovered VARCHAR NOT NULL, 
	contact VARCHAR NOT NULL, 
	lead_actor VARCHAR, 
	nhn_reference VARCHAR, 
	nhn_classification VARCHAR, 
	escalated_at DATETIME, 
	escalated_severity VARCHAR, 
	channel VARCHAR NOT NULL, 
	info_requested_at DATETIME, 
	resolved_at DATETIME, 
	resolution TEXT NOT NULL, 
	form_type VARCHAR, 
	owner_actor VARCHAR, 
	answering_actor VARCHAR, 
	received_at DATE, 
	deadline DATE, 
	flags VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_case_nhn_reference ON "case" (nhn_reference);

CREATE INDEX ix_case_state ON "case" (state);

CREATE INDEX ix_case_created_at ON "case" (created_at);

CREATE INDEX ix_case_kind ON "case" (kind);

CREATE TABLE casecounter (
	year INTEGER NOT NULL, 
	last INTEGER NOT NULL, 
	PRIMARY KEY (year)
);

CREATE TABLE mailboxstate (
	name VARCHAR NOT NULL, 
	uidvalidity INTEGER, 
	last_uid INTEGER NOT NULL, 
	state VARCHAR NOT NULL, 
	last_error VARCHAR NOT NULL, 
	since DATETIME, 
	ingested INTEGER NOT NULL, 
	duplicates INTEGER NOT NULL, 
	PRIMARY KEY (name)
);

CREATE TABLE caseactor (
	id INTEGER NOT NULL, 
	case_id VARCHAR NOT NULL, 
	actor_id VARCHAR NOT NULL, 
	role VARCHAR NOT NULL, 
	added_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (case_id, actor_id), 
	FOREIGN KEY(case_id) REFERENCES "case" (id)
);

CREATE INDEX ix_caseactor_case_id ON caseactor (case_id);

CREATE TABLE citizenform (
	case_id VARCHAR(20) NOT NULL, 
	channel VARCHAR NOT NULL, 
	reply_address VARCHAR NOT NULL, 
	submitted_at DATETIME NOT NULL, 
	identity_number VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	address VARCHAR NOT NULL, 
	phone VARCHAR NOT NULL, 
	email VARCHAR NOT NULL, 
	institution VARCHAR NOT NULL, 
	period VARCHAR NOT NULL, 
	free_text TEXT NOT NULL, 
	fields_json TEXT NOT NULL, 
	missing VARCHAR NOT NULL, 
	duplicate_key VARCHAR NOT NULL, 
	routed_by VARCHAR NOT NULL, 
	original_deadline DATE, 
	extension_months INTEGER NOT NULL, 
	extension_reason TEXT NOT NULL, 
	reminders_sent VARCHAR NOT NULL, 
	source_confirmed_at DATETIME, 
	source_confirmation TEXT NOT NULL, 
	refused BOOLEAN NOT NULL, 
	refusal_reason TEXT NOT NULL, 
	statsforvalter_notice BOOLEAN NOT NULL, 
	answered_on DATE, 
	answered_by VARCHAR NOT NULL, 
	PRIMARY KEY (case_id), 
	FOREIGN KEY(case_id) REFERENCES "case" (id)
);

CREATE INDEX ix_citizenform_submitted_at ON citizenform (submitted_at);

CREATE INDEX ix_citizenform_duplicate_key ON citizenform (duplicate_key);

CREATE INDEX ix_citizenform_identity_number ON citizenform (identity_number);

CREATE TABLE message (
	id INTEGER NOT NULL, 
	direction VARCHAR NOT NULL, 
	fingerprint VARCHAR NOT NULL, 
	message_id VARCHAR NOT NULL, 
	size INTEGER NOT NULL, 
	source VARCHAR NOT NULL, 
	mail_from VARCHAR NOT NULL, 
	rcpt_tos VARCHAR NOT NULL, 
	roles VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	error TEXT NOT NULL, 
	attempts INTEGER NOT NULL, 
	claimed_at DATETIME, 
	received_at DATETIME NOT NULL, 
	processed_at DATETIME, 
	case_id VARCHAR, 
	classification VARCHAR NOT NULL, 
	subject VARCHAR NOT NULL, 
	from_addr VARCHAR NOT NULL, 
	in_reply_to VARCHAR NOT NULL, 
	"references" TEXT NOT NULL, 
	headers TEXT NOT NULL, 
	text TEXT NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (fingerprint), 
	FOREIGN KEY(case_id) REFERENCES "case" (id)
);

CREATE INDEX ix_message_case_id ON message (case_id);

CREATE INDEX ix_message_direction ON message (direction);

CREATE INDEX ix_message_message_id ON message (message_id);

CREATE INDEX ix_message_status ON message (status);

CREATE TABLE attachment (
	id INTEGER NOT NULL, 
	message_pk INTEGER NOT NULL, 
	filename VARCHAR NOT NULL, 
	content_type VARCHAR NOT NULL, 
	size INTEGER NOT NULL, 
	data BLOB NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(message_pk) REFERENCES message (id)
);

CREATE INDEX ix_attachment_message_pk ON attachment (message_pk);

CREATE TABLE auditevent (
	id INTEGER NOT NULL, 
	case_id VARCHAR NOT NULL, 
	at DATETIME NOT NULL, 
	who VARCHAR NOT NULL, 
	action VARCHAR NOT NULL, 
	detail TEXT NOT NULL, 
	message_pk INTEGER, 
	PRIMARY KEY (id), 
	FOREIGN KEY(case_id) REFERENCES "case" (id), 
	FOREIGN KEY(message_pk) REFERENCES message (id)
);

CREATE INDEX ix_auditevent_case_id ON auditevent (case_id);

CREATE TABLE outboxmail (
	id INTEGER NOT NULL, 
	message_pk INTEGER NOT NULL, 
	case_id VARCHAR, 
	purpose VARCHAR NOT NULL, 
	mail_from VARCHAR NOT NULL, 
	recipients VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	claimed_at DATETIME, 
	last_error VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	sent_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (message_pk), 
	FOREIGN KEY(message_pk) REFERENCES message (id), 
	FOREIGN KEY(case_id) REFERENCES "case" (id)
);

CREATE INDEX ix_outboxmail_case_id ON outboxmail (case_id);

CREATE INDEX ix_outboxmail_next_attempt_at ON outboxmail (next_attempt_at);

CREATE INDEX ix_outboxmail_status ON outboxmail (status);

CREATE TABLE rawmessage (
	message_pk INTEGER NOT NULL, 
	data BLOB NOT NULL, 
	PRIMARY KEY (message_pk), 
	FOREIGN KEY(message_pk) REFERENCES message (id)
);
