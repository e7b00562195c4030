/** The guide's DDL for the registry, exactly as deployments created it by hand. */
export const GUIDE_DDL = `CREATE TABLE IF NOT EXISTS kb_server_processes (
    id INT AUTO_INCREMENT PRIMARY KEY,
    process_name VARCHAR(100) UNIQUE NOT NULL,
    port INT NOT NULL,
    pid INT DEFAULT NULL,
    status ENUM('stopped', 'starting', 'running', 'stopping', 'error') DEFAULT 'stopped',
    supervisor_host VARCHAR(100),
    supervisor_port INT,
    last_heartbeat DATETIME,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
)`;
