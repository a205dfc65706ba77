import type { Sql } from '../db/database.js';
import type { LocalMeetingEntry, LocalMeetingLedger } from './local.js';
import type { Meeting } from './video-provider.js';

interface Row {
  meeting_id: string;
  external_meeting_id: string;
  media_region: string;
  media_placement: Record<string, string>;
  ended_at: Date | string | null;
}

const entryOf = (row: Row): LocalMeetingEntry => ({
  meeting: {
    meetingId: row.meeting_id,
    externalMeetingId: row.external_meeting_id,
    mediaRegion: row.media_region,
    mediaPlacement: row.media_placement,
  },
  ended: row.ended_at !== null,
});

/**
 * The local video provider's meetings, in the workflow database (replicas share them). Inside an
 * operation they are written in its transaction (`within`), committing or rolling back with the
 * visit row that names them.
 */
export function postgresMeetingLedger(sql: Sql): LocalMeetingLedger {
  const find = async (meetingId: string) => {
    const rows = await sql.query<Row>(
      `SELECT meeting_id, external_meeting_id, media_region, media_placement, ended_at
       FROM local_meeting WHERE meeting_id = $1`,
      [meetingId],
    );
    return rows[0] && entryOf(rows[0]);
  };
  return {
    async record(meeting: Meeting) {
      await sql.query(
        `INSERT INTO local_meeting (meeting_id, external_meeting_id, media_region, media_placement)
         VALUES ($1, $2, $3, $4::json) ON CONFLICT (meeting_id) DO NOTHING`,
        [
          meeting.meetingId,
          meeting.externalMeetingId,
          meeting.mediaRegion,
          JSON.stringify(meeting.mediaPlacement),
        ],
      );
      return (await find(meeting.meetingId))!;
    },
    find,
    async markEnded(meetingId: string) {
      await sql.query(
        'UPDATE local_meeting SET ended_at = now() WHERE meeting_id = $1 AND ended_at IS NULL',
        [meetingId],
      );
    },
    within: (tx: Sql) => postgresMeetingLedger(tx),
  };
}
